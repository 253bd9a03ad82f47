"""Personal notification rules, the bot's direct-message rooms and contact changes
waiting for confirmation (docs/notifications.md)."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from rotations.models import Person


class NotificationRules(models.Model):
    """How one person is paged. No row (or empty ``rules``) is the default: e-mail and
    a mention in the incident's Matrix room, at once.

    ``rules`` and ``repings`` are lists of ``{"channel", "delay_seconds", "target",
    "important_only"}`` as validated by ``escalation.rules.parse``; ``repings`` None
    means "the same as ``rules``". Quiet hours are wall-clock times in the person's
    time zone (``quiet_start`` > ``quiet_end`` spans midnight)."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="paging")
    rules = models.JSONField(default=list, blank=True)
    repings = models.JSONField(null=True, blank=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification rules"

    def __str__(self) -> str:
        return f"rules of {self.person}"


class MatrixDirectRoom(models.Model):
    """The bot's direct-message room with a Matrix user, created on the first DM and
    reused from then on (also recorded in the bot's ``m.direct`` account data)."""

    user_id = models.CharField(max_length=255, unique=True)
    room_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"DM {self.user_id} {self.room_id}"


class ContactChange(models.Model):
    """A new e-mail address or Matrix ID a person gave on /me/: pages keep using the old
    (confirmed) value until the person confirms this one, by the signed link mailed to
    the new address or the code sent by DM to the new Matrix ID."""

    class Field(models.TextChoices):
        EMAIL = "email", "e-mail address"
        MATRIX_ID = "matrix_id", "Matrix ID"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="contact_changes")
    field = models.CharField(max_length=10, choices=Field.choices)
    value = models.CharField(max_length=255)
    code_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the DM code.")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "field"], name="one_change_per_field"),
        ]

    def __str__(self) -> str:
        return f"{self.person}: {self.field} → {self.value}"
