"""Configuration: contacts, escalation policies, repos, routes and silences."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from rotations.models import Person, Rotation, Team


class Contact(models.Model):
    """Someone outside the teams, e.g. a cloud provider's operations address."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    matrix_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class EscalationPolicy(models.Model):
    """Ordered steps (see docs/api.md): ``[{"wait_seconds", "notify": [TARGET], "repeat",
    "repeat_every_seconds"}]``; validated by ``escalation.policies.validate_steps``."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    steps = models.JSONField(default=list)
    repeat = models.PositiveIntegerField(default=0, help_text="Run the whole list again N times.")
    claim_timeout_seconds = models.PositiveIntegerField(
        default=0, help_text="Re-notify a claimer who has not resolved within this (0 = never)."
    )
    is_default = models.BooleanField(
        default=False, help_text="For failures of unknown repos and repos without a policy."
    )
    important = models.BooleanField(
        default=False, help_text="Its pages reach people during their quiet hours too."
    )

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_policy"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def snapshot(self) -> dict[str, object]:
        """What an incident keeps: later edits of the policy do not change its escalation."""
        return {
            "slug": self.slug,
            "name": self.name,
            "steps": self.steps,
            "repeat": self.repeat,
            "claim_timeout_seconds": self.claim_timeout_seconds,
            "important": self.important,
        }


class Repo(models.Model):
    """A repository or component and who answers for it."""

    name = models.CharField(
        max_length=255, unique=True, help_text="e.g. SovereignCloudStack/standards"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="repos"
    )
    rotation = models.ForeignKey(
        Rotation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="repos",
        help_text="The responsible rotation.",
    )
    backup_rotation = models.ForeignKey(
        Rotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="backup_for_repos"
    )
    policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="repos"
    )
    workflow = models.TextField(
        blank=True, help_text="Runbook URL or text sent with notifications."
    )
    matrix_room = models.CharField(
        max_length=255, blank=True, help_text="Overrides the team's room."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    class Action(models.TextChoices):
        PAGE = "page"
        IGNORE = "ignore"

    order = models.IntegerField(default=100, help_text="Routes are tried in ascending order.")
    match = models.JSONField(
        default=dict,
        help_text="Glob patterns over source, repo, pipeline, job, branch, subject, result, "
        'category and labels: {"job": "*-flavor-check", "labels": {"cloud": "gx-*"}}.',
    )
    repo = models.ForeignKey(
        Repo, null=True, blank=True, on_delete=models.CASCADE, related_name="routes"
    )
    category = models.CharField(max_length=50, blank=True)
    policy = models.ForeignKey(
        EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="routes"
    )
    forward_to = models.ManyToManyField(Contact, blank=True, related_name="routes")
    workflow = models.TextField(blank=True, help_text="Overrides the repo's workflow.")
    min_occurrences = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    window_seconds = models.PositiveIntegerField(
        default=0, help_text="min_occurrences must happen within this many seconds (0 = ever)."
    )
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.PAGE)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_occurrences__gte=1), name="route_min_occurrences"
            ),
        ]

    def __str__(self) -> str:
        return f"route {self.pk} ({self.order}): {self.match}"


class Silence(models.Model):
    """Mutes new incidents matching ``match`` that open within [starts, ends)."""

    match = models.JSONField(default=dict)
    starts = models.DateTimeField()
    ends = models.DateTimeField()
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="silences"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=F("starts")), name="silence_ends_after_starts"
            ),
        ]

    def __str__(self) -> str:
        return f"silence {self.match} until {self.ends:%Y-%m-%d %H:%M}"
