"""Notifications: every page is a row with an idempotency key before it is sent."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from escalation.models.incidents import Incident
from rotations.models import Person


class Notification(models.Model):
    """One message to one address about one incident (or several, when aggregated).

    ``key`` is unique: (incident, round, step, ping, target, channel) for pages, so a
    second sweep or a re-run task can never create a second row for the same page.
    The row exists before anything is sent; the sending task moves it through
    ``status`` and records attempts, errors and the channel's id of the message.
    """

    class Kind(models.TextChoices):
        PAGE = "page"
        REPAGE = "repage"
        CLAIM_REMINDER = "claim_reminder"
        FORWARD = "forward"
        FORWARD_RESOLVED = "forward_resolved"
        FALLBACK = "fallback"
        ASSIGNED = "assigned"  # reassigned to this person: paged at once
        RESPONDER = "responder"  # added as a responder: paged at once

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"
        MATRIX = "matrix"
        MATRIX_DM = "matrix_dm"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        RETRYING = "retrying"
        SENT = "sent"
        FAILED = "failed"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=2000, help_text="e-mail address, URL or room")
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    target = models.JSONField(default=dict, blank=True, help_text="The policy target it came from.")
    step = models.PositiveIntegerField(default=0)
    round = models.PositiveIntegerField(default=0)
    ping = models.PositiveIntegerField(default=0)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    error = models.TextField(blank=True)
    external_id = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)
    batch = models.CharField(
        max_length=100, blank=True, help_text="Shared by notifications sent as one message."
    )

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # The sweep's re-delivery query: unsent rows whose attempt is due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying", "sending"]),
                name="notification_unsent_due",
            ),
            # Aggregation: what else is waiting for, or was just sent to, this address.
            models.Index(fields=["channel", "address", "status"], name="notification_address"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.incident_id} → {self.address} ({self.status})"
