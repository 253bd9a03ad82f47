"""Rotation arithmetic by property: for random zones, shift lengths, handoff times,
members, inactivity, overrides, versions and windows, the schedule tiles the timeline,
hands off at local wall-clock time, shares turns fairly and agrees with ``oncall_at``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from rotations.schedule import (
    Definition,
    OnCall,
    OverrideSpec,
    Shift,
    base_shifts,
    final_shifts,
    oncall_at,
    same,
)


@dataclass(frozen=True)
class Person:
    pk: str
    inactive_since: datetime | None = None


PEOPLE = tuple(Person(f"member{i}") for i in range(7))
OUTSIDERS = (Person("outsider0"), Person("outsider1"))
ZONES = [
    ZoneInfo(name)
    for name in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")
]
MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60

# About 1 s per property; the whole file runs in well under 20 s.
properties = settings(max_examples=150, deadline=None)

# Days the clocks change (2026), and times that are skipped or repeated on them, drawn
# often enough to meet the gap and the ambiguous case.
DST_DAYS = {
    "Europe/Berlin": [date(2026, 3, 29), date(2026, 10, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],
}
handoff_times = st.sampled_from([time(1, 45), time(2, 15), time(2, 30)]) | st.builds(
    time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
)


@st.composite
def definitions(draw, *, inactive: bool = False, first_handoff: date | None = None) -> Definition:
    members = PEOPLE[: draw(st.integers(1, 7))]
    tz = draw(st.sampled_from(ZONES))
    days = st.dates(date(2024, 1, 1), date(2027, 12, 31))
    if tz.key in DST_DAYS:
        days = st.sampled_from(DST_DAYS[tz.key]) | days
    d = Definition(
        first_handoff=first_handoff or draw(days),
        handoff_time=draw(handoff_times),
        tz=tz,
        shift_days=draw(st.integers(1, 30)),
        members=members,
        offset=draw(st.integers(0, 6)),
    )
    if inactive:
        # Each member may be deactivated somewhere between a month before the rotation
        # starts and a year after, on any minute.
        sinces = st.none() | minutes_from(d.handoff(0), -30 * DAY_MINUTES, 365 * DAY_MINUTES)
        d = replace(d, members=tuple(replace(m, inactive_since=draw(sinces)) for m in members))
    return d


def minutes_from(origin: datetime, lo: int, hi: int) -> st.SearchStrategy[datetime]:
    return st.integers(lo, hi).map(lambda n: origin + n * MINUTE)


@st.composite
def windows(draw, d: Definition) -> tuple[datetime, datetime]:
    start = draw(
        st.just(d.handoff(0)) | minutes_from(d.handoff(0), -40 * DAY_MINUTES, 400 * DAY_MINUTES)
    )
    return start, start + draw(st.integers(1, 120 * DAY_MINUTES)) * MINUTE


@st.composite
def overrides(draw, d: Definition, window: tuple[datetime, datetime]) -> list[OverrideSpec]:
    """Up to five overrides in and around the window, created at distinct times."""
    count = draw(st.integers(0, 5))
    created = draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count, unique=True))
    span = int((window[1] - window[0]) / MINUTE)
    people = st.sampled_from(d.members + OUTSIDERS)
    specs = []
    for n in created:
        start = draw(minutes_from(window[0], -5 * DAY_MINUTES, span + 5 * DAY_MINUTES))
        specs.append(
            OverrideSpec(
                person=draw(people),
                start=start,
                end=start + draw(st.integers(1, 20 * DAY_MINUTES)) * MINUTE,
                created_at=datetime(2023, 1, 1, tzinfo=UTC) + n * MINUTE,
                backup=draw(st.none() | people),
                deleted=draw(st.sampled_from([False, False, False, True])),
            )
        )
    return specs


def instant_in(data: st.DataObject, window: tuple[datetime, datetime]) -> datetime:
    span = int((window[1] - window[0]) / MINUTE)
    return window[0] + data.draw(st.integers(0, span - 1)) * MINUTE


def active_at(person: Person, at: datetime) -> bool:
    return person.inactive_since is None or person.inactive_since > at


def in_order_from(d: Definition, position: int) -> list[Person]:
    return [d.members[(position + i) % len(d.members)] for i in range(len(d.members))]


def by_pk(s: Shift) -> tuple:
    """A shift with its person as a pk: deactivating a person changes the object, not who."""
    return (s.person and s.person.pk, s.start, s.end, s.override, s.changed_at)


def assert_tiles(shifts: list[Shift], first_handoff: datetime, window) -> None:
    """Ordered, no overlaps, no holes after the first handoff, covering the window."""
    assert all(s.start < s.end and s.start < window[1] and s.end > window[0] for s in shifts)
    for a, b in pairwise(shifts):
        assert a.end == b.start or (a.end < b.start <= first_handoff)
    if window[1] > first_handoff:
        assert shifts[0].start <= max(window[0], first_handoff)
        assert shifts[-1].end >= window[1]


# --- Base shifts ------------------------------------------------------------------------------


@properties
@given(st.data(), definitions(inactive=True))
def test_base_shifts_tile_the_timeline_from_the_first_handoff(data, d):
    window = data.draw(windows(d))

    shifts = base_shifts([d], *window)

    if window[1] <= d.handoff(0):
        assert shifts == []
    else:
        assert_tiles(shifts, d.handoff(0), window)
        assert all(s.start >= d.handoff(0) for s in shifts)


@properties
@given(st.data(), definitions())
def test_every_shift_starts_at_the_local_handoff_time(data, d):
    window = data.draw(windows(d))

    for s in base_shifts([d], *window):
        local = s.start.astimezone(d.tz)
        assert (local.date() - d.first_handoff).days % d.shift_days == 0
        wall = datetime.combine(local.date(), d.handoff_time)
        if local.replace(tzinfo=None) == wall:
            if local.replace(fold=1).utcoffset() != local.utcoffset():
                event("handoff at an ambiguous time")
            assert local.fold == 0  # an ambiguous time: its first occurrence
        else:
            event("handoff at a time skipped by DST")
            # The wall time does not exist that day: it happens as much later as the clock
            # skipped, i.e. read with the offset in force before the change.
            offset_before = (s.start - timedelta(hours=3)).astimezone(d.tz).utcoffset()
            assert s.start.replace(tzinfo=None) == wall - offset_before
            assert timedelta(0) < local.replace(tzinfo=None) - wall <= timedelta(hours=1)
        # A shift is its length in days, give or take the DST change it spans.
        assert abs(s.end - s.start - timedelta(days=d.shift_days)) <= timedelta(hours=1)


@properties
@given(definitions(), st.integers(0, 200), st.integers(1, 60))
def test_members_take_turns_in_order_and_share_evenly(d, first_slot, slots):
    shifts = base_shifts([d], d.handoff(first_slot), d.handoff(first_slot + slots))

    n = len(d.members)
    assert [s.person for s in shifts] == [
        d.members[(k + d.offset) % n] for k in range(first_slot, first_slot + slots)
    ]
    counts = Counter(s.person.pk for s in shifts)
    turns = [counts[m.pk] for m in d.members]
    assert max(turns) - min(turns) <= 1
    if slots % n == 0:
        assert set(turns) == {slots // n}


@properties
@given(st.data(), definitions(inactive=True))
def test_the_first_member_active_from_the_slot_owner_on_is_on_call(data, d):
    window = data.draw(windows(d))
    at = instant_in(data, window)

    found = oncall_at([d], [], at)

    if at < d.handoff(0):
        assert found == OnCall(None, None, None)
        return
    order = in_order_from(d, (d.slot_at(at) + d.offset) % len(d.members))
    active = [m for m in order if active_at(m, at)]
    if not active:
        assert found == OnCall(None, None, None)
        return
    assert found.primary == active[0]
    assert found.backup == (active[1] if len(active) > 1 else None)


@properties
@given(st.data(), definitions(inactive=True))
def test_deactivation_never_changes_earlier_shifts(data, d):
    window = data.draw(windows(d))
    sinces = [m.inactive_since for m in d.members if m.inactive_since is not None]
    never = replace(d, members=tuple(replace(m, inactive_since=None) for m in d.members))

    actual = {by_pk(s) for s in base_shifts([d], *window)}

    first_gone = min(sinces, default=window[1])
    assert {by_pk(s) for s in base_shifts([never], *window) if s.end <= first_gone} <= actual


# --- Overrides --------------------------------------------------------------------------------


@properties
@given(st.data(), definitions(inactive=True))
def test_oncall_at_agrees_with_the_final_shift_containing_the_instant(data, d):
    window = data.draw(windows(d))
    specs = data.draw(overrides(d, window))
    at = instant_in(data, window)

    containing = [s for s in final_shifts([d], specs, *window) if s.start <= at < s.end]
    found = oncall_at([d], specs, at)

    assert len(containing) <= 1
    if at >= d.handoff(0):
        assert len(containing) == 1
    if containing and containing[0].person is not None:
        assert (found.primary, found.shift) == (containing[0].person, containing[0])
    else:
        assert found == OnCall(None, None, None)


@properties
@given(st.data(), definitions(inactive=True))
def test_final_shifts_tile_and_the_latest_created_override_is_primary(data, d):
    window = data.draw(windows(d))
    specs = data.draw(overrides(d, window))
    at = instant_in(data, window)

    assert_tiles(final_shifts([d], specs, *window), d.handoff(0), window)
    found = oncall_at([d], specs, at)
    covering = [o for o in specs if o.start <= at < o.end and not o.deleted]
    if covering:
        winner = max(covering, key=lambda o: o.created_at)
        assert found.primary == winner.person
        assert found.shift.override
        assert winner.start <= found.shift.start and found.shift.end <= winner.end
        if winner.backup is not None and not same(winner.backup, winner.person):
            assert found.backup == winner.backup
    else:
        base = base_shifts([d], at, at + MINUTE)
        assert found.primary == (base[0].person if base else None)
        assert found.shift is None or not found.shift.override
    assert not same(found.backup, found.primary)


@properties
@given(st.data(), definitions())
def test_override_without_named_backup_keeps_the_rotation_backup(data, d):
    window = data.draw(windows(d))
    at = instant_in(data, window)
    cover = OverrideSpec(OUTSIDERS[0], at, at + MINUTE, created_at=datetime(2023, 1, 1, tzinfo=UTC))

    before, during = oncall_at([d], [], at), oncall_at([d], [cover], at)

    assert during.primary == OUTSIDERS[0]
    # The rotation's backup stays; with nobody else, the displaced member backs up.
    assert during.backup == (before.backup or before.primary)


# --- Versions ---------------------------------------------------------------------------------


@properties
@given(st.data(), definitions(), st.integers(2, 400))
def test_a_later_version_never_changes_shifts_before_it(data, v1, days_later):
    v2 = data.draw(definitions(first_handoff=v1.first_handoff + timedelta(days=days_later)))
    window = data.draw(windows(v1))
    cut = v2.handoff(0)

    alone = base_shifts([v1], *window)
    edited = base_shifts([v1, v2], *window)

    # Version 1 is in force until the cut: its shifts before are exactly kept, the one
    # running then (an edit that starts mid-shift) ends there.
    kept = [replace(s, end=min(s.end, cut)) for s in alone if s.start < cut]
    assert [s for s in edited if s.start < cut] == [s for s in kept if s.end > window[0]]
    assert [s for s in edited if s.start >= cut] == [
        s for s in base_shifts([v2], *window) if s.start >= cut
    ]
    assert [s for s in edited if s.start < cut < s.end] == []
    if window[1] > v1.handoff(0):
        assert_tiles(edited, v1.handoff(0), window)
