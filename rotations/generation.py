"""The schedule generation: a cheap, cross-process signal that schedules changed.

Every save or delete of a person, team, rotation, version, member or override (swaps
change the schedule through their overrides) replaces the one ``ScheduleGeneration``
row's value with a new random stamp, inside the writer's transaction, so other
processes see the new stamp exactly when they can see the change. Bulk writes that skip
signals call ``bump()`` themselves. A reader reads the stamp (one indexed query) before
loading anything, so what it caches under a stamp is never older than the stamp.

``loaded(ids, at)`` keeps each process's loaded rotations for the current stamp: the
on-call lookups answer from memory and one query.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.db.models import Subquery
from django.db.models.signals import post_delete, post_save

from rotations import selectors
from rotations.models import (
    Override,
    Person,
    Rotation,
    RotationMember,
    RotationVersion,
    ScheduleGeneration,
    Team,
)

ROW = 1
WATCHED = (Person, Team, Rotation, RotationVersion, RotationMember, Override)
#: Overrides are loaded from a day before the first instant asked for, to the end.
SLACK = timedelta(days=1)
FAR = datetime(9000, 1, 1, tzinfo=UTC)


def bump() -> None:
    """A new stamp: schedules changed (call inside the writing transaction)."""
    stamp = secrets.randbits(62)
    if not ScheduleGeneration.objects.filter(pk=ROW).update(value=stamp):
        ScheduleGeneration.objects.update_or_create(pk=ROW, defaults={"value": stamp})


def current() -> int | None:
    """The stamp now; None when the row is missing (a flushed database): no caching."""
    return ScheduleGeneration.objects.filter(pk=ROW).values_list("value", flat=True).first()


def stamp_subquery() -> Subquery:
    """``current()`` as an expression, to read the stamp with another query's rows."""
    return Subquery(ScheduleGeneration.objects.filter(pk=ROW).values("value")[:1])


def _changed(sender: Any, **kwargs: Any) -> None:
    bump()


def connect() -> None:
    for model in WATCHED:
        post_save.connect(_changed, sender=model, dispatch_uid=f"generation-save-{model}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"generation-delete-{model}")


class _Cache:
    """This process's rotations loaded under one stamp: id → (rotation, valid from)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamp: int | None = None
        self.rotations: dict[int, tuple[selectors.LoadedRotation, datetime]] = {}


_cache = _Cache()


def loaded(
    rotation_ids: list[int], at: datetime, stamp: int | None | Literal["read"] = "read"
) -> dict[int, selectors.LoadedRotation]:
    """The rotations of ``rotation_ids`` (those that exist) loaded with everything
    ``oncall(at)`` needs: from this process's cache when the stamp has not changed,
    else with ``selectors.load`` (kept for the next call): all rotations on the first
    miss under a stamp, the missing ones after that. One query when all are cached, five
    otherwise; none more when the caller read ``stamp`` with its own query
    (``stamp_subquery``)."""
    if stamp == "read":
        stamp = current()
    found: dict[int, selectors.LoadedRotation] = {}
    missing = []
    with _cache.lock:
        if stamp is None or stamp != _cache.stamp:
            _cache.stamp, _cache.rotations = stamp, {}
        partial = stamp is None or bool(_cache.rotations)
        for pk in rotation_ids:
            hit = _cache.rotations.get(pk)
            if hit is not None and hit[1] <= at:
                found[pk] = hit[0]
            else:
                missing.append(pk)
    if not missing:
        return found
    since = at - SLACK
    # The first miss under a stamp loads every rotation (four queries, once per change
    # and process): lookups of other repos then answer from memory too.
    query = Rotation.objects.filter(pk__in=set(missing)) if partial else Rotation.objects.all()
    fresh = selectors.load(query, (since, FAR))
    with _cache.lock:
        keep = stamp is not None and _cache.stamp == stamp
        for item in fresh:
            found[item.rotation.pk] = item
            if keep:
                _cache.rotations[item.rotation.pk] = (item, since)
    return found
