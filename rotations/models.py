"""People, teams, rotations and overrides."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

matrix_id_validator = RegexValidator(
    r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?$", "A Matrix user ID like @alice:example.org."
)


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone.") from None


class Person(models.Model):
    handle = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    matrix_id = models.CharField(max_length=255, blank=True, validators=[matrix_id_validator])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    active = models.BooleanField(default=True, help_text="Inactive people are skipped.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        help_text="The login that acts as this person in the web UI.",
    )

    class Meta:
        ordering = ["handle"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name or self.handle
