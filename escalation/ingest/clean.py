"""Fitting a sender's values into a ``Report``: lengths, keys, times, readable errors.

Source parsers read payloads they do not control; these helpers keep a long or odd
value from turning into a database error (a 500) and name the field when a value
cannot be used at all.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from escalation.ingest.errors import BadPayload

# The column sizes of Incident and Occurrence.
NAME = 255
URL = 2000
DEDUP_KEY = 500
DELIVERY_KEY = 255
# TimelineEntry.channel holds the source: the narrowest column a sender's name reaches.
SOURCE = 20
# A summary is a headline, not a log: beyond this it is cut (docs/incidents.md), so one
# sender cannot make every incident list megabytes long.
SUMMARY = 4000
URL_SCHEMES = ("http://", "https://")


def text(value: Any, limit: int = NAME) -> str:
    """``value`` as a string (None → ""), cut to ``limit`` characters."""
    if value is None:
        return ""
    value = value if isinstance(value, str) else str(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def summary(value: Any) -> str:
    """A failure's summary, cut to ``SUMMARY`` characters."""
    return text(value, SUMMARY)


def url(value: Any) -> str:
    """An http(s) URL, or "" when it is missing, not a string, too long to store (a cut URL
    is wrong) or of another scheme: a sender's ``javascript:`` link must never be rendered
    as a link in a notification."""
    if not isinstance(value, str) or len(value) > URL:
        return ""
    value = value.strip()
    if not value.lower().startswith(URL_SCHEMES) or any(ord(c) < 0x21 for c in value):
        return ""
    return value


def key(*parts: Any, limit: int = DEDUP_KEY) -> str:
    """Parts joined with ":"; over ``limit`` the tail is replaced by its SHA-256, so distinct
    long keys stay distinct."""
    joined = ":".join(text(part, 10_000) for part in parts)
    if len(joined) <= limit:
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()
    return joined[: limit - len(digest) - 1] + "#" + digest


def require(data: Any, name: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """``data[name]``, checked to be of ``kind``; BadPayload naming the field otherwise."""
    field = f"{where}.{name}" if where else name
    if not isinstance(data, dict):
        raise BadPayload(
            f"Expected an object at {where or 'the top level'}.",
            {where or "non_field_errors": ["Expected an object."]},
        )
    if name not in data or data[name] is None:
        raise BadPayload(f"Missing {field}.", {field: ["This field is required."]})
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        expected = " or ".join(k.__name__ for k in _kinds(kind))
        raise BadPayload(f"{field} must be of type {expected}.", {field: [f"Expected {expected}."]})
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def epoch(value: Any, field: str) -> datetime | None:
    """Float epoch seconds (Zuul's times) as an aware UTC datetime; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadPayload(f"{field} must be epoch seconds.", {field: ["Expected a number."]})
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise BadPayload(f"{field} is not a usable time.", {field: ["Not a valid time."]}) from None


def iso_time(value: Any, field: str) -> datetime | None:
    """An RFC 3339 time (naive means UTC); None or "" stays None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadPayload(f"{field} must be an RFC 3339 time.", {field: ["Expected a time."]})
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadPayload(f"{field} is not an RFC 3339 time.", {field: ["Not a valid time."]})
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def no_nul(data: Any) -> Any:
    """``data`` unchanged; BadPayload when a string in it holds U+0000, which PostgreSQL
    cannot store in text or jsonb."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise BadPayload("The payload contains a NUL character (\\u0000).")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return data
