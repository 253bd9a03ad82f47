"""Writes: creating and editing rotations (as versions) and overrides.

Rules (docs/rotations.md): an edit takes effect at a future handoff and never
changes earlier shifts; by default it continues the order where it stood.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rotations import generation, schedule, selectors, windows
from rotations.models import (
    Override,
    Person,
    Rotation,
    RotationMember,
    RotationVersion,
    Swap,
    Team,
)
from rotations.windows import Window


@dataclass(frozen=True)
class ScheduleSpec:
    """What a rotation version defines."""

    members: Sequence[Person]
    shift_days: int
    handoff_time: time
    timezone: str
    windows: tuple[Window, ...] = ()  # active windows; empty: always active


def _check(spec: ScheduleSpec) -> None:
    errors: dict[str, list[str]] = {}
    if not spec.members:
        errors["members"] = ["A rotation needs at least one member."]
    elif len({p.pk for p in spec.members}) != len(spec.members):
        errors["members"] = ["A person can appear only once."]
    if spec.shift_days < 1:
        errors["shift_days"] = ["Must be a whole number of days, at least 1."]
    if errors:
        raise ValidationError(errors)


def _add_version(
    rotation: Rotation, spec: ScheduleSpec, first: date, offset: int
) -> RotationVersion:
    version = RotationVersion.objects.create(
        rotation=rotation,
        effective_from=first,
        shift_days=spec.shift_days,
        handoff_time=spec.handoff_time,
        timezone=spec.timezone,
        offset=offset,
        active_windows=windows.dump(spec.windows),
    )
    RotationMember.objects.bulk_create(
        RotationMember(version=version, person=person, position=i)
        for i, person in enumerate(spec.members)
    )
    generation.bump()  # bulk_create sends no signals
    return version


@transaction.atomic
def create_rotation(
    *,
    slug: str,
    name: str,
    team: Team | None,
    spec: ScheduleSpec,
    start: date,
    offset: int = 0,
) -> Rotation:
    """A new rotation whose first handoff is on ``start`` (which may lie in the past) and
    goes to ``spec.members[offset]``."""
    _check(spec)
    if not 0 <= offset < len(spec.members):
        raise ValidationError({"offset": ["Must be the position of a member (from 0)."]})
    rotation = Rotation.objects.create(slug=slug, name=name, team=team)
    _add_version(rotation, spec, start, offset=offset)
    return rotation


def next_handoff(rotation: Rotation, after: datetime) -> datetime | None:
    """The first base handoff strictly after ``after`` (None for a rotation without versions)."""
    loaded = selectors.load_one(rotation, (after, after))
    shifts = schedule.slots(loaded.versions, after, after + schedule.EPSILON)
    if shifts:
        return shifts[0].end
    versions = [v for v in loaded.versions if v.handoff(0) > after]
    return min(v.handoff(0) for v in versions) if versions else None


@transaction.atomic
def edit_schedule(
    rotation: Rotation,
    spec: ScheduleSpec,
    effective_from: date | None,
    *,
    now: datetime | None = None,
    offset: int | None = None,
) -> RotationVersion:
    """Change members, shift length, handoff time, zone or active windows from
    ``effective_from`` on.

    ``effective_from`` is the date of the first handoff under the new definition and
    must not be in the past; it defaults to the date of the next handoff, so the shift
    in progress is untouched. Versions that had not taken effect yet and start on or
    after it are replaced. The new first shift goes to the member after the person on
    duty just before the change (when they are still a member), so the order goes on;
    ``offset`` (a position in ``spec.members``) names the first one instead.
    """
    _check(spec)
    if offset is not None and not 0 <= offset < len(spec.members):
        raise ValidationError({"offset": ["Must be the position of a member (from 0)."]})
    now = now or timezone.now()
    Rotation.objects.select_for_update().filter(pk=rotation.pk).get()
    if effective_from is None:
        upcoming = next_handoff(rotation, now)
        if upcoming is None:
            raise ValidationError({"effective_from": ["Give the date the change starts."]})
        effective_from = upcoming.astimezone(ZoneInfo(spec.timezone)).date()
    begins = datetime.combine(effective_from, spec.handoff_time, tzinfo=ZoneInfo(spec.timezone))
    if begins < now:
        raise ValidationError(
            {
                "effective_from": [
                    "Must not be in the past: past shifts never change. The first handoff "
                    f"under the new definition would be {begins.isoformat()}."
                ]
            }
        )
    RotationVersion.objects.filter(rotation=rotation, effective_from__gte=effective_from).delete()
    loaded = selectors.load_one(rotation, (begins, begins))
    before = schedule.slots(loaded.versions, begins - schedule.EPSILON, begins)
    previous = before[0].person if before else None
    if offset is None:
        positions = [i for i, p in enumerate(spec.members) if schedule.same(p, previous)]
        offset = (positions[0] + 1) % len(spec.members) if positions else 0
    return _add_version(rotation, spec, effective_from, offset)


@transaction.atomic
def drop_future_versions(
    rotation: Rotation, effective_from: date, *, now: datetime | None = None
) -> int:
    """Delete the versions from ``effective_from`` on; they must not have taken effect
    (past shifts never change). Returns how many were deleted."""
    now = now or timezone.now()
    Rotation.objects.select_for_update().filter(pk=rotation.pk).get()
    doomed = list(
        RotationVersion.objects.filter(rotation=rotation, effective_from__gte=effective_from)
    )
    if any(version.starts_at() <= now for version in doomed):
        raise ValidationError(
            {"effective_from": ["Versions that took effect never change: past shifts stay."]}
        )
    RotationVersion.objects.filter(pk__in=[v.pk for v in doomed]).delete()
    return len(doomed)


def current_version(rotation: Rotation, at: datetime) -> RotationVersion | None:
    """The version in force at ``at``, else the first one to come (versions prefetched)."""
    versions = list(rotation.versions.all())
    started = [v for v in versions if v.starts_at() <= at]
    return started[-1] if started else (versions[0] if versions else None)


def create_override(
    *,
    rotation: Rotation,
    person: Person,
    start: datetime,
    end: datetime,
    reason: str = "",
    backup: Person | None = None,
) -> Override:
    if end <= start:
        raise ValidationError({"end": ["Must be after start."]})
    return Override.objects.create(
        rotation=rotation, person=person, start=start, end=end, reason=reason, backup=backup
    )


@transaction.atomic
def delete_override(override: Override) -> None:
    """Delete by marking, so feeds can tell calendar apps the affected shifts changed."""
    Override.objects.filter(pk=override.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )
    generation.bump()  # update() sends no signals


def live_swap_of(override: Override) -> Swap | None:
    """The taken or approved swap that made ``override``: it is undone through the swap
    (``swap_services.cancel``), so both people hear of it."""
    return Swap.objects.filter(
        override=override, state__in=[Swap.State.TAKEN, Swap.State.APPROVED]
    ).first()
