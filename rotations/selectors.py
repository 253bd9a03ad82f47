"""Reads: load rotations with everything the schedule needs in a constant number of queries."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects

from rotations import schedule, windows
from rotations.models import Override, Person, Rotation, RotationMember, RotationVersion


@dataclass
class LoadedRotation:
    rotation: Rotation
    versions: list[schedule.Definition] = field(default_factory=list)
    overrides: list[schedule.OverrideSpec] = field(default_factory=list)

    def shifts(self, start: datetime, end: datetime) -> list[schedule.Shift]:
        return schedule.final_shifts(self.versions, self.overrides, start, end)

    def oncall(self, at: datetime) -> schedule.OnCall:
        return schedule.oncall_at(self.versions, self.overrides, at)

    def active(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Where the rotation means to have somebody on call (its active windows)."""
        return schedule.active_spans(self.versions, start, end)

    def resumes(self, before: schedule.Shift | None, shift: schedule.Shift) -> bool:
        """``shift`` goes on with ``before``'s duty after time outside the active windows
        only (Tuesday 09:00 after Monday 17:00 of the same turn): no new handoff."""
        return (
            before is not None
            and schedule.same(before.person, shift.person)
            and before.end < shift.start
            and not self.active(before.end, shift.start)
        )


def definition(version: RotationVersion) -> schedule.Definition:
    """A version as the schedule sees it; its members must be prefetched."""
    return schedule.Definition(
        first_handoff=version.effective_from,
        handoff_time=version.handoff_time,
        tz=zoneinfo.ZoneInfo(version.timezone),
        shift_days=version.shift_days,
        members=tuple(m.person for m in version.members.all()),
        offset=version.offset,
        changed_at=version.created_at,
        windows=windows.parse(version.active_windows),
    )


def override_spec(o: Override) -> schedule.OverrideSpec:
    return schedule.OverrideSpec(
        person=o.person,
        start=o.start,
        end=o.end,
        created_at=o.created_at,
        backup=o.backup,
        changed_at=o.deleted_at or o.updated_at,
        deleted=o.deleted_at is not None,
    )


def versions_prefetch() -> Prefetch:
    members = RotationMember.objects.select_related("person").order_by("position")
    return Prefetch(
        "versions",
        queryset=RotationVersion.objects.order_by("effective_from").prefetch_related(
            Prefetch("members", queryset=members)
        ),
    )


def load(
    rotations: QuerySet[Rotation] | Iterable[Rotation],
    window: tuple[datetime, datetime] | None = None,
    *,
    include_deleted: bool = False,
) -> list[LoadedRotation]:
    """Rotations with versions and the overrides overlapping ``window`` (all when None).

    Four queries whatever the number of rotations, versions or overrides. Deleted
    overrides are included (cutting nothing) when ``include_deleted``, so feeds can
    date the shifts they touched.
    """
    rotations = list(rotations)
    prefetch_related_objects(rotations, versions_prefetch())  # skips those already fetched
    overrides = Override.objects.filter(rotation__in=[r.pk for r in rotations])
    if window is not None:
        # An override outside the window still cuts the shifts that reach into it: widen
        # by the longest shift (plus a day for DST and versions starting mid-shift).
        days = max((v.shift_days for r in rotations for v in r.versions.all()), default=0)
        reach = timedelta(days=days + 1)
        overrides = overrides.filter(end__gt=window[0] - reach, start__lt=window[1] + reach)
    if not include_deleted:
        overrides = overrides.filter(deleted_at__isnull=True)
    by_rotation: dict[int, list[schedule.OverrideSpec]] = defaultdict(list)
    for o in overrides.select_related("person", "backup").order_by("created_at", "pk"):
        by_rotation[o.rotation_id].append(override_spec(o))
    return [
        LoadedRotation(r, [definition(v) for v in r.versions.all()], by_rotation[r.pk])
        for r in rotations
    ]


def load_one(
    rotation: Rotation,
    window: tuple[datetime, datetime] | None = None,
    *,
    include_deleted: bool = False,
) -> LoadedRotation:
    query = Rotation.objects.filter(pk=rotation.pk).select_related("team")
    return load(query, window, include_deleted=include_deleted)[0]


def rotations_of_person(person: Person) -> QuerySet[Rotation]:
    """Rotations the person is a member of (in any version) or has overrides in."""
    return Rotation.objects.filter(
        Q(versions__members__person=person) | Q(overrides__person=person)
    ).distinct()


def person_by_reference(reference: str) -> Person | None:
    """A person by handle, e-mail address or Matrix ID (the PERSON reference of docs/api.md)."""
    reference = reference.strip()
    if not reference:
        return None
    if reference.startswith("@"):
        return Person.objects.filter(matrix_id=reference).first()
    if "@" in reference:
        return Person.objects.filter(email__iexact=reference).first()
    return Person.objects.filter(handle=reference).first()


def person_for_user(user: Any) -> Person | None:
    """The person a web login acts as: linked in the admin, else the person whose handle
    equals the username, else the one with the same e-mail address."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    linked = Person.objects.filter(user=user).first()
    if linked is not None:
        return linked
    by_handle = Person.objects.filter(handle=user.get_username()).first()
    if by_handle is not None or not user.email:
        return by_handle
    return Person.objects.filter(email__iexact=user.email).first()


@dataclass
class RotationNow:
    """Who is on call in a rotation now, and the next handoffs (shifts starting later)."""

    rotation: Rotation
    oncall: schedule.OnCall
    upcoming: list[schedule.Shift]
    off_hours: bool = False  # outside the rotation's active windows now


def rotations_now(
    rotations: QuerySet[Rotation] | Iterable[Rotation],
    now: datetime,
    handoffs: int = 3,
    ahead: timedelta = timedelta(weeks=16),
) -> list[RotationNow]:
    """Each rotation's on-call answer at ``now`` and its next ``handoffs`` shifts within
    ``ahead`` (gaps included, person None; a piece that only resumes the same person's
    duty after off hours is no handoff). Four queries whatever the number."""
    found = []
    for item in load(rotations, (now, now + ahead)):
        shifts = item.shifts(now, now + ahead)
        later = [
            s
            for before, s in zip([None, *shifts], shifts, strict=False)
            if s.start > now and not item.resumes(before, s)
        ]
        off = not item.active(now, now + schedule.EPSILON)
        found.append(RotationNow(item.rotation, item.oncall(now), later[:handoffs], off))
    return found


def shifts_of_person(person: Person, start: datetime, end: datetime) -> list[Any]:
    """(rotation, shift) pairs of the person's final shifts overlapping [start, end),
    in every rotation, by start."""
    query = rotations_of_person(person).select_related("team")
    found = [
        (item.rotation, shift)
        for item in load(query, (start, end))
        for shift in item.shifts(start, end)
        if schedule.same(shift.person, person)
    ]
    return sorted(found, key=lambda pair: (pair[1].start, pair[0].slug))


def oncall_now(rotations: Iterable[Rotation], now: datetime) -> dict[int, schedule.OnCall]:
    """Who is on call at ``now`` in each rotation, by rotation id: four queries for any
    number of rotations (fewer when their versions are prefetched already)."""
    distinct = list({r.pk: r for r in rotations}.values())
    return {loaded.rotation.pk: loaded.oncall(now) for loaded in load(distinct, (now, now))}


#: ``GET /api/v1/oncall/?NAME=VALUE&at=…``: the answer for each query parameter NAME,
#: ``fn(value, at) → body`` (raising the API's NotFound for an unknown value). Filled
#: by ``escalation.plugins``: ``rotation`` (rotations.views) and ``repo`` (escalation).
OnCallResolver = Callable[[str, datetime], dict[str, Any]]
ONCALL_RESOLVERS: dict[str, OnCallResolver] = {}
