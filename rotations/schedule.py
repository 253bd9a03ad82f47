"""Rotation arithmetic: a pure function of (rotation definition, instant).

Nothing here touches the database. A rotation is a list of ``Definition``s
(its effective-dated versions) plus ``OverrideSpec``s; ``final_shifts`` turns
them into the schedule and ``oncall_at`` answers "who is on call at t". The
rules are written down in docs/rotations.md. A version's active windows
(``rotations.windows``) clip its shifts: outside them the rotation has nobody on
call, and that is no gap; overrides still apply everywhere.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from rotations import windows as active_windows
from rotations.windows import Window

EPSILON = timedelta(microseconds=1)


class PersonLike(Protocol):
    @property
    def pk(self) -> Any: ...

    @property
    def inactive_since(self) -> datetime | None: ...


@dataclass(frozen=True)
class Definition:
    """One version of a rotation, in force from its first handoff until the next version."""

    first_handoff: date
    handoff_time: time
    tz: ZoneInfo
    shift_days: int
    members: tuple[PersonLike, ...]
    offset: int = 0
    changed_at: datetime | None = None
    windows: tuple[Window, ...] = ()  # empty: always active

    def active(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The parts of [start, end) inside the version's active windows, merged."""
        return active_windows.active(self.windows, self.tz, start, end)

    def handoff(self, k: int) -> datetime:
        """The UTC instant of handoff ``k`` (0 = the first): local wall-clock time, so it
        stays at ``handoff_time`` across DST changes. A handoff time that does not exist
        that day (spring forward) happens as many minutes later as the clock skipped; an
        ambiguous one (fall back) takes its first occurrence."""
        day = self.first_handoff + timedelta(days=k * self.shift_days)
        return datetime.combine(day, self.handoff_time, tzinfo=self.tz).astimezone(UTC)

    def slot_at(self, at: datetime) -> int:
        """The index of the slot containing ``at`` (negative before the first handoff)."""
        local_day = at.astimezone(self.tz).date()
        k = (local_day - self.first_handoff).days // self.shift_days
        while self.handoff(k) > at:
            k -= 1
        while self.handoff(k + 1) <= at:
            k += 1
        return k


@dataclass(frozen=True)
class OverrideSpec:
    person: PersonLike
    start: datetime
    end: datetime
    created_at: datetime
    backup: PersonLike | None = None
    changed_at: datetime | None = None
    deleted: bool = False  # deleted overrides cut nothing; they only mark shifts changed


@dataclass(frozen=True)
class Shift:
    person: PersonLike | None
    start: datetime
    end: datetime
    override: bool = False
    backup: PersonLike | None = None  # only set by an override that names one
    changed_at: datetime | None = None


@dataclass(frozen=True)
class OnCall:
    primary: PersonLike | None
    backup: PersonLike | None
    shift: Shift | None


def _latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def same(a: PersonLike | None, b: PersonLike | None) -> bool:
    return a is not None and b is not None and a.pk == b.pk


def _active(person: PersonLike, start: datetime, end: datetime) -> bool:
    return person.inactive_since is None or person.inactive_since >= end


def _next_active(
    members: Sequence[PersonLike],
    after: int,
    start: datetime,
    end: datetime,
    exclude: Sequence[PersonLike | None] = (),
) -> PersonLike | None:
    """The first member after position ``after`` (wrapping) who is active throughout
    [start, end) and not in ``exclude``; None when there is nobody."""
    count = len(members)
    for step in range(1, count + 1):
        candidate = members[(after + step) % count]
        if _active(candidate, start, end) and not any(same(candidate, x) for x in exclude):
            return candidate
    return None


def _slot_shifts(d: Definition, k: int, start: datetime, end: datetime) -> list[Shift]:
    """The shift(s) of slot ``k`` clipped to [start, end): at every instant the first member
    active then, from the slot's own member on, is on duty. A member who became inactive
    during the slot keeps its earlier part; the next member active then takes the rest, up
    to their own deactivation if that comes first."""
    if not d.members:
        return [Shift(None, start, end, changed_at=d.changed_at)]
    position = (k + d.offset) % len(d.members)
    order = [d.members[(position + i) % len(d.members)] for i in range(len(d.members))]
    # Who is first active can change only where somebody becomes inactive.
    cuts = sorted(
        {
            m.inactive_since
            for m in order
            if m.inactive_since is not None and start < m.inactive_since < end
        }
    )
    pieces: list[Shift] = []
    for lo, hi in zip([start, *cuts], [*cuts, end], strict=True):
        chosen = next((i for i, m in enumerate(order) if _active(m, lo, hi)), len(order))
        person = order[chosen] if chosen < len(order) else None
        # The deactivations that passed the piece on date it (feeds re-send it).
        changed = _latest(d.changed_at, *(m.inactive_since for m in order[:chosen]))
        if pieces and (
            same(pieces[-1].person, person) or (pieces[-1].person is None and person is None)
        ):
            last = pieces[-1]
            pieces[-1] = replace(last, end=hi, changed_at=_latest(last.changed_at, changed))
            continue
        if pieces:  # the previous piece was cut short here
            pieces[-1] = replace(pieces[-1], changed_at=_latest(pieces[-1].changed_at, lo))
        pieces.append(Shift(person, lo, hi, changed_at=changed))
    return pieces


def _bounds(versions: Sequence[Definition]) -> list[tuple[Definition, datetime, datetime | None]]:
    ordered = sorted(versions, key=lambda d: d.handoff(0))
    return [
        (d, d.handoff(0), ordered[i + 1].handoff(0) if i + 1 < len(ordered) else None)
        for i, d in enumerate(ordered)
    ]


def slots(versions: Sequence[Definition], start: datetime, end: datetime) -> list[Shift]:
    """The rotation's turns overlapping [start, end), whole, ignoring active windows and
    overrides: whose turn it is, which is what handoffs and edits follow.

    Before the first version's first handoff there are none; gaps (no active member)
    are shifts whose ``person`` is None.
    """
    shifts: list[Shift] = []
    bounds = _bounds(versions)
    for i, (d, begins, ends) in enumerate(bounds):
        lo, hi = max(start, begins), end if ends is None else min(end, ends)
        if lo >= hi:
            continue
        for k in range(d.slot_at(lo), d.slot_at(hi - EPSILON) + 1):
            slot_start = max(d.handoff(k), begins)
            slot_end = d.handoff(k + 1) if ends is None else min(d.handoff(k + 1), ends)
            pieces = _slot_shifts(d, k, slot_start, slot_end)
            if slot_end < d.handoff(k + 1):  # cut short by the next version: dated by it
                cut_by = bounds[i + 1][0].changed_at
                pieces[-1] = replace(pieces[-1], changed_at=_latest(pieces[-1].changed_at, cut_by))
            shifts.extend(pieces)
    return [s for s in shifts if s.end > start and s.start < end]


def active_spans(
    versions: Sequence[Definition], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) in which the rotation means to have somebody on call:
    inside each version's active windows while it is in force, and all of the time
    before the first version (where nobody on call is a gap)."""
    spans: list[tuple[datetime, datetime]] = []
    cursor = start
    for d, begins, ends in _bounds(versions):
        lo, hi = max(start, begins), end if ends is None else min(end, ends)
        if lo >= hi:
            continue
        if cursor < lo:
            spans.append((cursor, lo))
        spans.extend(d.active(lo, hi))
        cursor = max(cursor, hi)
    if cursor < end:  # no version in force in [start, end): before the first one
        spans.append((cursor, end))
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def version_at(versions: Sequence[Definition], at: datetime) -> Definition | None:
    """The version in force at ``at`` (None before the first one)."""
    found = [d for d, b, e in _bounds(versions) if b <= at and (e is None or at < e)]
    return found[0] if found else None


def base_shifts(versions: Sequence[Definition], start: datetime, end: datetime) -> list[Shift]:
    """The rotation's own shifts overlapping [start, end), whole (not clipped to the
    window), no overrides: the turns of ``slots`` cut to the active windows of their
    version, so one turn may become several pieces of the same person."""
    turns = slots(versions, start, end)
    if not turns or not any(d.windows for d in versions):
        return turns
    bounds = _bounds(versions)
    # Each version's windows are placed once over the turns' whole range, not per turn.
    lo, hi = turns[0].start, max(t.end for t in turns)
    spans = {id(d): d.active(max(lo, b), hi if e is None else min(hi, e)) for d, b, e in bounds}
    shifts: list[Shift] = []
    for turn in turns:
        d = next(d for d, b, e in bounds if b <= turn.start and (e is None or turn.start < e))
        if not d.windows:
            shifts.append(turn)
            continue
        ours = spans[id(d)]
        first = bisect_right(ours, (turn.start, turn.start)) - 1
        for a, b in ours[max(first, 0) :]:
            if a >= turn.end:
                break
            if b > turn.start:
                shifts.append(replace(turn, start=max(a, turn.start), end=min(b, turn.end)))
    return [s for s in shifts if s.end > start and s.start < end]


def _paint(shifts: list[Shift], o: OverrideSpec) -> list[Shift]:
    painted: list[Shift] = []
    for s in shifts:
        if s.end <= o.start or s.start >= o.end:
            painted.append(s)
            continue
        if o.deleted:
            painted.append(replace(s, changed_at=_latest(s.changed_at, o.changed_at)))
            continue
        changed = _latest(s.changed_at, o.changed_at)
        if s.start < o.start:
            painted.append(replace(s, end=o.start, changed_at=changed))
        if s.end > o.end:
            painted.append(replace(s, start=o.end, changed_at=changed))
    if not o.deleted:
        painted.append(
            Shift(o.person, o.start, o.end, override=True, backup=o.backup, changed_at=o.changed_at)
        )
    return sorted(painted, key=lambda s: s.start)


def final_shifts(
    versions: Sequence[Definition],
    overrides: Sequence[OverrideSpec],
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """The final schedule overlapping [start, end): overrides applied in creation order
    (the later-created wins where two overlap), each piece whole, ordered by start."""
    shifts = base_shifts(versions, start, end)
    near = [o for o in overrides if o.end > start and o.start < end]
    # A piece in the window is a base shift or an override minus every later override that
    # overlaps it, also one outside the window: a shift ends where the next override starts.
    lo = min([start, *(s.start for s in shifts), *(o.start for o in near)])
    hi = max([end, *(s.end for s in shifts), *(o.end for o in near)])
    relevant = sorted(
        (o for o in overrides if o.end > lo and o.start < hi), key=lambda o: o.created_at
    )
    for o in relevant:
        shifts = _paint(shifts, o)
    return [s for s in shifts if s.end > start and s.start < end]


def _rotation_backup(
    versions: Sequence[Definition], at: datetime, primary: PersonLike | None
) -> PersonLike | None:
    """The next active member after the rotation's own person on duty at ``at``, skipping
    ``primary``; the person on duty comes last, so whoever an override displaced is the
    backup only when nobody else is."""
    in_force = [(d, b) for d, b, e in _bounds(versions) if b <= at and (e is None or at < e)]
    base = base_shifts(versions, at, at + EPSILON)
    if not in_force or not base or not in_force[0][0].members:
        return None
    d, _ = in_force[0]
    on_duty = base[0].person
    positions = [i for i, m in enumerate(d.members) if same(m, on_duty)]
    position = positions[0] if positions else (d.slot_at(at) + d.offset) % len(d.members)
    return _next_active(d.members, position, at, at + EPSILON, exclude=(primary or on_duty,))


def oncall_at(
    versions: Sequence[Definition],
    overrides: Sequence[OverrideSpec],
    at: datetime,
) -> OnCall:
    """Who is on call at ``at``: primary None before the first handoff, in a gap, or
    outside the version's active windows (where an override still puts its person on
    call, with the override's own backup only).

    The backup is the next active member after the rotation's own primary; an override
    changes it only when it names a backup (and never makes the primary their own backup).
    """
    shifts = final_shifts(versions, overrides, at, at + EPSILON)
    shift = next((s for s in shifts if s.start <= at < s.end and s.person is not None), None)
    if shift is None:
        return OnCall(None, None, None)
    backup = shift.backup or _rotation_backup(versions, at, shift.person)
    if same(backup, shift.person):
        backup = None
    return OnCall(shift.person, backup, shift)
