"""Query-parameter parsing shared by the API views; problems become 400 field errors."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


def time_param(request: Request, name: str, default: datetime | None = None) -> datetime:
    """An ISO 8601 instant with an offset (``Z`` or ``+01:00``); ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default or timezone.now()
    try:
        # A '+' in a query string arrives as a space unless the client encoded it.
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: ["Not an ISO 8601 time, e.g. 2026-11-26T09:00:00+01:00."]})
    if timezone.is_naive(value):
        raise ValidationError({name: ["Give an offset (Z or +01:00): local times are ambiguous."]})
    return value
