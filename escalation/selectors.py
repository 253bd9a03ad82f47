"""Reads for escalation/: who is responsible for repos, in constant queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from escalation.models import Repo
from rotations import schedule, selectors
from rotations.models import Person, Rotation

INSTANT = timedelta(microseconds=1)


def oncall_by_rotation(rotation_ids: Iterable[int], at: datetime) -> dict[int, schedule.OnCall]:
    loaded = selectors.load(Rotation.objects.filter(pk__in=set(rotation_ids)), (at, at + INSTANT))
    return {item.rotation.pk: item.oncall(at) for item in loaded}


def responsible(repos: Iterable[Repo], at: datetime) -> dict[int, list[Person]]:
    """Repo id → people responsible at ``at``: the rotation's primary first, then its
    backup, then the backup rotation's primary (each once)."""
    repos = [r for r in repos if r is not None]
    answers = oncall_by_rotation(
        [i for r in repos for i in (r.rotation_id, r.backup_rotation_id) if i], at
    )
    result: dict[int, list[Person]] = {}
    for repo in repos:
        own = answers.get(repo.rotation_id) if repo.rotation_id else None
        other = answers.get(repo.backup_rotation_id) if repo.backup_rotation_id else None
        people: list[Any] = []
        candidates = [own.primary, own.backup] if own else []
        candidates += [other.primary] if other else []
        for person in candidates:
            if person is not None and not any(schedule.same(person, p) for p in people):
                people.append(person)
        result[repo.pk] = people
    return result
