"""Matrix state: the bot's messages per incident, the room events it handled, its sync token."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from escalation.models.incidents import Incident
from escalation.models.notifications import Notification
from rotations.models import Person


class MatrixMessage(models.Model):
    """A bot message about an incident: the root (one per incident and room, edited as
    the incident changes) or a reply in its thread. Reactions on any of them act on the
    incident.

    The root row is created before it is posted (``event_id`` empty), by the
    notification that posts it; others wait for it, so a room never gets two roots.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="matrix_messages")
    room = models.CharField(max_length=255, help_text="room id")
    event_id = models.CharField(max_length=255, blank=True)
    root = models.BooleanField(default=False)
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dirty_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when the root waits for an edit (None: current)."
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is editing the root until then."
    )
    edits = models.PositiveIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True, help_text="Of the content last posted.")
    created_at = models.DateTimeField(default=now)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "room"], condition=Q(root=True), name="matrix_one_root"
            ),
            # Reactions name the event they react to: one lookup by event id.
            models.UniqueConstraint(
                fields=["event_id"], condition=~Q(event_id=""), name="matrix_event_once"
            ),
        ]
        indexes = [
            # The refresh sweep: roots waiting for an edit whose task was lost.
            models.Index(
                fields=["dirty_since"], condition=Q(dirty_since__isnull=False), name="matrix_dirty"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.room} {self.event_id or '(posting)'}"


class MatrixEvent(models.Model):
    """A room event the listener acted on (or chose not to): handled once, whatever
    the sync replays. Reactions keep what they did, so redacting one can undo it."""

    class Kind(models.TextChoices):
        REACTION = "reaction"
        REDACTION = "redaction"
        COMMAND = "command"

    event_id = models.CharField(max_length=255, unique=True)
    room = models.CharField(max_length=255)
    sender = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.CharField(max_length=500, blank=True, help_text="reaction key or command")
    relates_to = models.CharField(max_length=255, blank=True, help_text="event reacted to")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.text} by {self.sender}: {self.outcome}"


class MatrixSync(models.Model):
    """Where the listener's ``/sync`` stands, per bot account: a restart resumes here,
    neither missing nor replaying room events."""

    user_id = models.CharField(max_length=255, unique=True)
    since = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.since[:20]}"
