"""Service-level models: API tokens and process heartbeats. No business logic."""

from __future__ import annotations

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import models


class Scope(models.TextChoices):
    INGEST = "ingest", "ingest: post failures"
    READ = "read", "read: everything but secrets"
    ACT = "act", "act: claim, resolve, mute incidents"
    ADMIN = "admin", "admin: everything, configuration included"


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is enough: there is nothing to
    # brute-force, and lookups stay one indexed query per request.
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_scopes(value: object) -> None:
    allowed = set(Scope.values)
    if not isinstance(value, list) or not value or not set(value) <= allowed:
        raise ValidationError(f"a non-empty list of: {', '.join(sorted(allowed))}")


class ApiToken(models.Model):
    SECRET_PREFIX = "oc_"  # noqa: S105 (a marker for secret scanners, not a secret)

    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="The first characters, to recognise a token."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, validators=[validate_scopes])
    person = models.ForeignKey(
        "rotations.Person",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="Actions without 'by' are taken on behalf of this person.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def set_new_secret(self) -> str:
        """Give the token a new secret and return it; only its hash is kept."""
        secret = self.SECRET_PREFIX + secrets.token_urlsafe(32)
        self.prefix = secret[:10]
        self.digest = hash_secret(secret)
        return secret

    def has_scope(self, scope: str) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


class Heartbeat(models.Model):
    """The last time a background process proved it was alive (shown by /healthz)."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
