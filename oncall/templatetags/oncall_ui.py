"""Template helpers of the web UI: relative times with absolute titles, safe links,
query strings that keep the filters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django import template
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def relative(value: datetime, now: datetime) -> str:
    """ "just now", "3 min ago", "in 2 h", "5 days ago"; a date beyond two weeks."""
    seconds = (value - now).total_seconds()
    size = abs(seconds)
    if size < 45:
        return "just now"
    if size < 90 * 60:
        amount = f"{max(1, round(size / 60))} min"
    elif size < 36 * 3600:
        amount = f"{round(size / 3600)} h"
    elif size < 14 * 86400:
        amount = f"{round(size / 86400)} days"
    else:
        local = timezone.localtime(value)
        return local.strftime("%-d %b" if local.year == now.year else "%-d %b %Y")
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def absolute(value: datetime) -> str:
    """The full time in the active (the viewer's) time zone."""
    return timezone.localtime(value).strftime("%a %Y-%m-%d %H:%M %Z")


@register.filter
def ago(value: datetime | None) -> SafeString | str:
    """A ``<time>`` saying how long ago (or how soon) with the absolute time as its title."""
    if value is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        absolute(value),
        relative(value, timezone.now()),
    )


@register.filter
def when(value: datetime | None) -> SafeString | str:
    """A short absolute time in the viewer's zone ("Thu 26 Nov 09:00"), full in the title."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        absolute(value),
        local.strftime("%a %-d %b %H:%M"),
    )


@register.filter
def span(value: timedelta | None) -> str:
    """A duration in words: "14 days", "2 days 3 h", "45 min"."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts) or "0 min"


@register.filter
def who(person: Any) -> str:
    """A person's name, else handle; "nobody" for None."""
    if person is None:
        return "nobody"
    return str(getattr(person, "name", "") or getattr(person, "handle", "") or person)


@register.filter
def http_url(value: str | None) -> str:
    """The URL when it is http(s), else "" (links come from senders we do not control)."""
    if value and urlsplit(value).scheme in ("http", "https"):
        return value
    return ""


@register.simple_tag
def query(request: HttpRequest, **changes: Any) -> str:
    """The request's query string with ``changes`` applied (None or "" removes a key):
    links between tabs and pages keep the other filters."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"
