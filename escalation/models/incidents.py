"""Incidents: one problem, however many failure reports; its occurrences and timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from escalation import classification
from escalation.models.routing import Contact, Repo, Route
from rotations.models import Person, Team


class Incident(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        CLAIMED = "claimed"
        RESOLVED = "resolved"

    #: The one limit for a mute, whichever channel sets it (web, API, admin, e-mail, Matrix).
    MAX_MUTE: ClassVar[timedelta] = timedelta(days=90)

    dedup_key = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    muted_until = models.DateTimeField(null=True, blank=True)

    source = models.CharField(max_length=50)
    repo = models.CharField(max_length=255)
    job = models.CharField(max_length=255, blank=True)
    pipeline = models.CharField(max_length=255, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    result = models.CharField(max_length=255, blank=True)
    category = models.CharField(max_length=50, blank=True)
    category_reason = models.CharField(
        max_length=255,
        blank=True,
        help_text='Why this category: "result NODE_FAILURE", "route 3: job scs-compliance-*".',
    )
    summary = models.TextField(blank=True)
    url = models.URLField(max_length=2000, blank=True)
    log_url = models.URLField(max_length=2000, blank=True)
    labels = models.JSONField(default=dict, blank=True)

    occurrences = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(default=now)
    last_seen = models.DateTimeField(default=now)

    claimed_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    repo_ref = models.ForeignKey(
        Repo, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    route = models.ForeignKey(
        Route, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owned = models.BooleanField(
        default=True, help_text="False: nobody is responsible for the repo."
    )
    pages = models.BooleanField(
        default=True, help_text="False: recorded only (a non-voting job no route pages for)."
    )
    workflow = models.TextField(blank=True)
    forwarded_to = models.ManyToManyField(Contact, blank=True, related_name="incidents")
    not_forwarded_to = models.CharField(
        max_length=500,
        blank=True,
        help_text="The contacts the route forwards to, left out because this is not a "
        "compliance failure (names, comma-separated).",
    )
    min_occurrences = models.PositiveIntegerField(default=1)
    window_seconds = models.PositiveIntegerField(default=0)

    # Escalation state; the engine (escalation issue) advances it. The policy is a
    # snapshot taken at creation, so editing a policy never changes a running escalation.
    policy = models.JSONField(null=True, blank=True)
    escalation_step = models.PositiveIntegerField(default=0)
    escalation_round = models.PositiveIntegerField(default=0)
    escalation_ping = models.PositiveIntegerField(default=0)
    escalation_started_at = models.DateTimeField(null=True, blank=True)
    escalation_step_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current step first notified."
    )
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(
        null=True, blank=True, help_text="When the claimer is reminded (claim timeout)."
    )

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            # At most one unresolved incident per problem: concurrent reports race on
            # this index, and a report after resolution opens a new incident.
            models.UniqueConstraint(
                fields=["dedup_key"], condition=~Q(state="resolved"), name="one_unresolved_per_key"
            ),
        ]
        indexes = [
            # The escalation sweep: due incidents that still escalate.
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(next_escalation_at__isnull=False) & ~Q(state="resolved"),
                name="incident_due",
            ),
            # The sweep: claims whose claimer is due a reminder.
            models.Index(
                fields=["remind_at"],
                condition=Q(remind_at__isnull=False, state="claimed"),
                name="incident_remind_due",
            ),
            # Lists of open work, newest first, and per repo.
            models.Index(fields=["state", "-last_seen"], name="incident_state_seen"),
            models.Index(fields=["repo", "state"], name="incident_repo_state"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.repo} {self.job} ({self.state})"

    @property
    def not_forwarded_note(self) -> str:
        """ "Zuul infrastructure failure (NODE_FAILURE) — not forwarded to …", or ""."""
        return classification.note(self.category, self.source, self.result, self.not_forwarded_to)

    def is_muted(self, at: object = None) -> bool:
        moment = at or now()
        return self.muted_until is not None and self.muted_until > moment  # type: ignore[operator]


class Occurrence(models.Model):
    """One accepted failure report. Only the latest ``HISTORY`` are kept per incident, so
    a storm costs little storage; ``delivery_key`` makes a re-delivery count once."""

    HISTORY = 50

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="history")
    delivery_key = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=now)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "delivery_key"], name="occurrence_once"),
        ]
        indexes = [models.Index(fields=["incident", "-received_at"], name="occurrence_recent")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.received_at:%Y-%m-%d %H:%M:%S}"


class TimelineEntry(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created"
        OCCURRED = "occurred"
        NOTIFIED = "notified"
        NOTIFY_FAILED = "notify_failed"
        CLAIMED = "claimed"
        UNCLAIMED = "unclaimed"
        MUTED = "muted"
        UNMUTED = "unmuted"
        ESCALATED = "escalated"
        RESOLVED = "resolved"
        FORWARDED = "forwarded"
        REOPENED = "reopened"
        REASSIGNED = "reassigned"
        RESPONDER_ADDED = "responder_added"
        NOTE = "note"
        SKIPPED = "skipped"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=20, blank=True, help_text="api, web, email, matrix, …")
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class Responder(models.Model):
    """A person or team brought in on an incident on top of whoever claimed it
    (``lifecycle.add_responder``): paged once when added, shown with the incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="responders")
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    added_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False, team__isnull=True)
                | Q(person__isnull=True, team__isnull=False),
                name="responder_person_xor_team",
            ),
            # Adding the same responder twice is one row (and one page).
            models.UniqueConstraint(
                fields=["incident", "person"],
                condition=Q(person__isnull=False),
                name="responder_person_once",
            ),
            models.UniqueConstraint(
                fields=["incident", "team"],
                condition=Q(team__isnull=False),
                name="responder_team_once",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.person or self.team}"
