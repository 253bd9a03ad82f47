"""Watches: reports that are expected and do not come (docs/watches.md)."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from escalation.models.incidents import Incident
from escalation.models.routing import EscalationPolicy, Repo


class Watch(models.Model):
    """A report matching ``match`` is expected at least every ``every_seconds``; after
    ``every + grace`` without one, the sweep opens one incident (``incident``)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    match = models.JSONField(
        default=dict,
        help_text='Glob patterns over repo, pipeline, job, source: {"pipeline": '
        '"periodic-daily", "repo": "SovereignCloudStack/standards"}.',
    )
    every_seconds = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    grace_seconds = models.PositiveIntegerField(default=0)
    repo = models.ForeignKey(
        Repo,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="watches",
        help_text="Who answers when it goes quiet (else the default policy and nobody).",
    )
    policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="watches"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    last_seen = models.DateTimeField(null=True, blank=True)
    # last_seen (else created_at) + every + grace, kept in step by every write.
    due_at = models.DateTimeField()
    # The open "no report" incident; set while overdue, so the sweep opens only one.
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The ping URL's secret is derived again from these (see escalation/watches tokens).
    ping_digest = models.CharField(max_length=64, blank=True, db_index=True)
    ping_issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]
        indexes = [
            # The sweep's one query: active watches due and not yet overdue
            # (escalation.services.watches.due: active, incident IS NULL, due_at <= now).
            models.Index(
                fields=["due_at"],
                condition=Q(active=True, incident__isnull=True),
                name="watch_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(every_seconds__gte=1), name="watch_every_positive"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def state(self) -> str:
        if self.incident_id is not None:
            return "overdue"
        return "new" if self.last_seen is None else "up"
