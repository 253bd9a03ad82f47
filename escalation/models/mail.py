"""E-mail state beyond single notifications: storm windows per address, the install's salt."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.db.models import Q


def burst_key(channel: str, address: str) -> str:
    """The unique key of an address's burst row (addresses may be long: hash them)."""
    return hashlib.sha256(f"{channel}\0{address}".encode()).hexdigest()


class MailBurst(models.Model):
    """How many messages one address got in its current storm window.

    The row is locked (``SELECT … FOR UPDATE``) while a worker decides whether a page
    goes out at once or waits for the window's digest, so several workers never send
    more than ``ONCALL_EMAIL_BURST`` messages to an address within one window.
    """

    key = models.CharField(max_length=64, unique=True, help_text="burst_key(channel, address)")
    channel = models.CharField(max_length=10)
    address = models.CharField(max_length=2000)
    window_started_at = models.DateTimeField()
    mails = models.PositiveIntegerField(default=0, help_text="Sent in the current window.")
    digest_at = models.DateTimeField(
        null=True, blank=True, help_text="When the held pages go out as one digest (None: none)."
    )

    def __str__(self) -> str:
        return f"{self.address}: {self.mails} since {self.window_started_at:%H:%M:%S}"


class Installation(models.Model):
    """One row: a random salt created with the database, so ids derived from row numbers
    (e-mail Message-IDs) never repeat after the database is reset."""

    salt = models.CharField(max_length=32)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="installation_singleton")]

    def __str__(self) -> str:
        return f"installation {self.salt}"

    @classmethod
    def salt_value(cls) -> str:
        row, _ = cls.objects.get_or_create(pk=1, defaults={"salt": secrets.token_hex(6)})
        return row.salt
