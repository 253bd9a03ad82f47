"""Coverage: who is missing. Repos without a responsible rotation, rotations with gaps
that own repos (within their active windows only), and repos or jobs that failed while
nobody owned them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max

from escalation.models import Incident, Repo
from rotations import selectors
from rotations.models import Rotation


def gaps(shifts: list[Any], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) where nobody is on call, merged."""
    found: list[tuple[datetime, datetime]] = []
    cursor = start
    for shift in sorted(shifts, key=lambda s: s.start):
        if shift.person is None:
            continue
        if shift.start > cursor:
            found.append((cursor, min(shift.start, end)))
        cursor = max(cursor, shift.end)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [(a, b) for a, b in found if b > a]


def report(now: datetime, days: int) -> dict[str, Any]:
    end = now + timedelta(days=days)
    repos = list(Repo.objects.select_related("rotation", "team").order_by("name"))
    owners: dict[int, list[str]] = defaultdict(list)
    for repo in repos:
        for rotation_id in (repo.rotation_id, repo.backup_rotation_id):
            if rotation_id:
                owners[rotation_id].append(repo.name)
    with_gaps = []
    for loaded in selectors.load(Rotation.objects.filter(pk__in=owners), (now, end)):
        # Outside its active windows a rotation means to have nobody on call: no gap.
        shifts = loaded.shifts(now, end)
        missing = [gap for a, b in loaded.active(now, end) for gap in gaps(shifts, a, b)]
        if missing:
            with_gaps.append(
                {
                    "rotation": loaded.rotation.slug,
                    "repos": sorted(set(owners[loaded.rotation.pk])),
                    "gaps": [{"start": a, "end": b} for a, b in missing],
                }
            )
    unowned = (
        Incident.objects.filter(owned=False, last_seen__gte=now - timedelta(days=days))
        .values("repo", "job")
        .annotate(incidents=Count("id"), last_seen=Max("last_seen"))
        .order_by("-last_seen")
    )
    return {
        "from": now,
        "to": end,
        "repos_without_rotation": [r.name for r in repos if r.rotation_id is None],
        "rotations_with_gaps": sorted(with_gaps, key=lambda r: r["rotation"]),
        "unowned_failures": list(unowned),
    }


def shifts_per_person(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Fairness: per person, the final shifts overlapping [start, end) in all rotations,
    their hours within the window and the rotations, most hours first; active members
    without a shift are listed with zero."""
    totals: dict[int, dict[str, Any]] = {}

    def row_of(person: Any) -> dict[str, Any]:
        empty = {"person": person, "shifts": 0, "overrides": 0, "hours": 0.0, "rotations": set()}
        return totals.setdefault(person.pk, empty)

    for loaded in selectors.load(Rotation.objects.all(), (start, end)):
        for version in loaded.versions:  # members without a shift count too: zero
            for member in version.members:
                if member.inactive_since is None:
                    row_of(member)
        for shift in loaded.shifts(start, end):
            if shift.person is None:
                continue
            row = row_of(shift.person)
            row["shifts"] += 1
            row["overrides"] += int(shift.override)
            row["hours"] += (min(shift.end, end) - max(shift.start, start)).total_seconds() / 3600
            row["rotations"].add(loaded.rotation.name)
    rows = sorted(totals.values(), key=lambda r: (-r["hours"], str(r["person"])))
    return [{**r, "rotations": sorted(r["rotations"])} for r in rows]
