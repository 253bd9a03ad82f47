"""What the mapping modules share: the fetched API data, the names given so far, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.text import slugify

from escalation.grafana.report import Report

Items = list[dict[str, Any]]


@dataclass
class Context:
    source: dict[str, Items]
    now: datetime  # overrides over by then are history, not configuration
    report: Report = field(default_factory=Report)
    people: dict[str, str] = field(default_factory=dict)  # Grafana user id → handle
    usernames: dict[str, str] = field(default_factory=dict)  # Grafana user id → username
    teams: dict[str, str] = field(default_factory=dict)  # Grafana team id → slug
    team_members: dict[str, list[str]] = field(default_factory=dict)  # team slug → handles
    # Grafana schedule id → its rotations, one list per level, the highest level first.
    schedules: dict[str, list[list[str]]] = field(default_factory=dict)
    schedule_names: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)  # Grafana chain id → policy slug
    taken: dict[str, set[str]] = field(default_factory=dict)  # kind → slugs given

    def items(self, resource: str) -> Items:
        return self.source.get(resource) or []

    def slug(self, kind: str, name: str, fallback: str, length: int = 60) -> str:
        """A slug for ``name`` not yet given to another object of ``kind``."""
        taken = self.taken.setdefault(kind, set())
        whole = slugify(name) or fallback
        base = whole[: length - 3].rstrip("-")
        slug, n = whole[:length].rstrip("-"), 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        return slug

    def user_name(self, user_id: str) -> str:
        return self.usernames.get(user_id, user_id)
