"""Query-parameter parsing shared by the API views; problems become 400 field errors.

Every instant a client gives in a query (``?at=``, ``?from=``, ``?active_at=`` …) goes
through ``parse_instant``: an ISO 8601 time with an offset, returned in UTC and inside
``EARLIEST``..``LATEST``. Outside that range the schedule arithmetic (adding shifts,
windows, time zones) would overflow ``datetime`` or the database, which answered 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
FORMAT_HINT = "Not an ISO 8601 time, e.g. 2026-11-26T09:00:00+01:00."


class BadInstant(ValueError):
    pass


def parse_instant(raw: str) -> datetime:
    """``raw`` as an aware UTC datetime; ``BadInstant`` with a readable reason otherwise."""
    try:
        # A '+' in a query string arrives as a space unless the client encoded it.
        value = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        value = None
    if value is None:
        raise BadInstant(FORMAT_HINT)
    if timezone.is_naive(value):
        raise BadInstant("Give an offset (Z or +01:00): local times are ambiguous.")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        value = None
    if value is None or not EARLIEST <= value < LATEST:
        raise BadInstant(
            f"Out of range: give a time from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d}."
        )
    return value


def time_param(request: Request, name: str, default: datetime | None = None) -> datetime:
    """An ISO 8601 instant with an offset (``Z`` or ``+01:00``); ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default or timezone.now()
    try:
        return parse_instant(raw)
    except BadInstant as error:
        raise ValidationError({name: [str(error)]}) from error


class InstantFormField(forms.CharField):
    def to_python(self, value: Any) -> datetime | None:  # type: ignore[override]
        raw = super().to_python(value)
        if not raw:
            return None
        try:
            return parse_instant(raw)
        except BadInstant as error:
            raise forms.ValidationError(str(error)) from error


class InstantFilter(filters.Filter):
    """A django-filter filter over an instant, parsed by ``parse_instant``."""

    field_class = InstantFormField
