"""The incident as JSON for outbound channels (the webhook's ``incident``): a plain
renderer, field for field the API's incident object (docs/api.md), without the REST
serializers, which sit above the channels.

``tests/escalation/test_webhook_channel.py`` checks it renders exactly what
``escalation.serializers.IncidentSerializer`` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from escalation import selectors
from escalation.models import Incident
from rotations.models import Person

FIELDS = [
    "id",
    "state",
    "muted_until",
    "muted",
    "source",
    "repo",
    "job",
    "pipeline",
    "branch",
    "subject",
    "result",
    "category",
    "category_reason",
    "summary",
    "url",
    "log_url",
    "labels",
    "dedup_key",
    "occurrences",
    "first_seen",
    "last_seen",
    "claimed_by",
    "claimed_at",
    "resolved_at",
    "resolved_by",
    "responsible",
    "escalation",
    "workflow",
    "owned",
    "pages",
    "forwarded_to",
    "responders",
]


def when(value: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 in UTC with ``Z``, microseconds kept."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def person(value: Person | None) -> dict[str, Any] | None:
    """The API's PERSON object."""
    if value is None:
        return None
    return {
        "handle": value.handle,
        "name": value.name,
        "email": value.email,
        "matrix_id": value.matrix_id,
        "timezone": value.timezone,
    }


def incident(item: Incident, now: datetime) -> dict[str, Any]:
    """The API's incident object of ``item`` at ``now``."""
    repos = [item.repo_ref] if item.repo_ref else []
    people = selectors.responsible(repos, now).get(item.repo_ref_id or 0, [])
    escalation = selectors.escalation_view(item, now)
    if escalation is not None:
        escalation["next_at"] = when(escalation["next_at"])
    computed: dict[str, Any] = {
        "muted_until": when(item.muted_until),
        "muted": item.is_muted(now),
        "first_seen": when(item.first_seen),
        "last_seen": when(item.last_seen),
        "claimed_by": person(item.claimed_by),
        "claimed_at": when(item.claimed_at),
        "resolved_at": when(item.resolved_at),
        "resolved_by": person(item.resolved_by),
        "responsible": [person(p) for p in people],
        "escalation": escalation,
        "forwarded_to": [contact.slug for contact in item.forwarded_to.all()],
        "responders": [
            {
                "person": person(r.person),
                "team": r.team.slug if r.team else None,
                "added_by": person(r.added_by),
                "added_at": when(r.added_at),
            }
            for r in item.responders.all()
        ],
    }
    return {name: computed[name] if name in computed else getattr(item, name) for name in FIELDS}
