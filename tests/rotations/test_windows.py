"""Active windows by example: clipping, overnight windows, DST, overrides, validation.

Pure like tests/rotations/test_schedule.py: a person is any object with ``pk`` and
``inactive_since``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rotations import windows
from rotations.schedule import (
    Definition,
    OverrideSpec,
    active_spans,
    base_shifts,
    final_shifts,
    oncall_at,
    slots,
)
from tests.rotations.test_schedule_properties import definitions, instant_in
from tests.rotations.test_schedule_properties import windows as spans_of

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Person:
    pk: str
    inactive_since: datetime | None = None


ALICE, BOB, XAVIER = Person("alice"), Person("bob"), Person("xavier")
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def rotation(raw: list, *, start: date = date(2026, 1, 5), days: int = 7, at: time = time(9)):
    """A weekly rotation of alice and bob, handing off Mondays 09:00 Berlin."""
    return Definition(start, at, BERLIN, days, (ALICE, BOB), windows=windows.parse(raw))


def spans(shifts) -> list[tuple[str | None, datetime, datetime]]:
    return [(s.person.pk if s.person else None, s.start, s.end) for s in shifts]


def local(shifts) -> list[tuple[str, str, str]]:
    return [
        (s.person.pk, f"{s.start.astimezone(BERLIN):%a %H:%M}", f"{s.end.astimezone(BERLIN):%H:%M}")
        for s in shifts
    ]


def test_a_week_shift_becomes_one_piece_per_weekday_window_of_the_same_person():
    d = rotation(WEEKDAYS)
    shifts = base_shifts([d], berlin(2026, 1, 5, 9), berlin(2026, 1, 12, 9))
    assert local(shifts) == [
        ("alice", f"{day} 09:00", "17:00") for day in ("Mon", "Tue", "Wed", "Thu", "Fri")
    ]


def test_without_windows_the_rotation_is_always_active():
    d = rotation([])
    assert spans(base_shifts([d], utc(2026, 1, 6), utc(2026, 1, 7))) == [
        ("alice", berlin(2026, 1, 5, 9), berlin(2026, 1, 12, 9))
    ]
    assert oncall_at([d], [], berlin(2026, 1, 10, 3)).primary == ALICE


def test_nobody_is_on_call_outside_the_windows_and_the_turn_goes_on():
    d = rotation(WEEKDAYS)
    assert oncall_at([d], [], berlin(2026, 1, 6, 8, 59)).primary is None
    assert oncall_at([d], [], berlin(2026, 1, 6, 9)).primary == ALICE
    assert oncall_at([d], [], berlin(2026, 1, 6, 16, 59)).primary == ALICE
    assert oncall_at([d], [], berlin(2026, 1, 6, 17)).primary is None  # end is exclusive
    assert oncall_at([d], [], berlin(2026, 1, 10, 12)).primary is None  # Saturday
    answer = oncall_at([d], [], berlin(2026, 1, 13, 10))  # next week: bob's turn
    assert (answer.primary, answer.backup) == (BOB, ALICE)
    assert answer.shift is not None
    assert (answer.shift.start, answer.shift.end) == (
        berlin(2026, 1, 13, 9),
        berlin(2026, 1, 13, 17),
    )


def test_the_turns_ignore_windows():
    d = rotation(WEEKDAYS)
    assert spans(slots([d], berlin(2026, 1, 10), berlin(2026, 1, 10, 1))) == [
        ("alice", berlin(2026, 1, 5, 9), berlin(2026, 1, 12, 9))
    ]


def test_a_window_ending_at_or_before_its_start_runs_past_midnight():
    d = rotation([{"days": ["mon"], "start": "22:00", "end": "06:00"}])
    shifts = base_shifts([d], berlin(2026, 1, 5), berlin(2026, 1, 19))
    assert spans(shifts) == [
        ("alice", berlin(2026, 1, 5, 22), berlin(2026, 1, 6, 6)),
        ("bob", berlin(2026, 1, 12, 22), berlin(2026, 1, 13, 6)),
    ]
    assert oncall_at([d], [], berlin(2026, 1, 6, 5, 59)).primary == ALICE
    assert oncall_at([d], [], berlin(2026, 1, 6, 6)).primary is None


def test_a_window_across_the_handoff_is_cut_between_the_two_turns():
    d = rotation([{"days": ["sun"], "start": "20:00", "end": "12:00"}])  # Sun 20:00–Mon 12:00
    shifts = base_shifts([d], berlin(2026, 1, 11), berlin(2026, 1, 13))
    assert spans(shifts) == [
        ("alice", berlin(2026, 1, 11, 20), berlin(2026, 1, 12, 9)),
        ("bob", berlin(2026, 1, 12, 9), berlin(2026, 1, 12, 12)),
    ]


def test_equal_start_and_end_is_the_whole_day():
    d = rotation([{"days": ["sat", "sun"], "start": "00:00", "end": "00:00"}])
    shifts = base_shifts([d], berlin(2026, 1, 5, 9), berlin(2026, 1, 12, 9))
    assert spans(shifts) == [("alice", berlin(2026, 1, 10), berlin(2026, 1, 12))]  # merged


def test_windows_stay_nine_to_five_local_across_spring_forward():
    d = rotation(WEEKDAYS, start=date(2026, 3, 23))
    shifts = base_shifts([d], berlin(2026, 3, 26), berlin(2026, 4, 1))
    assert [(s.start, s.end) for s in shifts] == [
        (utc(2026, 3, 26, 8), utc(2026, 3, 26, 16)),  # CET, +01:00
        (utc(2026, 3, 27, 8), utc(2026, 3, 27, 16)),
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 15)),  # CEST after 2026-03-29, +02:00
        (utc(2026, 3, 31, 7), utc(2026, 3, 31, 15)),
    ]
    assert {(s.start.astimezone(BERLIN).hour, s.end.astimezone(BERLIN).hour) for s in shifts} == {
        (9, 17)
    }


def test_windows_stay_nine_to_five_local_across_fall_back():
    d = rotation(WEEKDAYS, start=date(2026, 10, 19))
    shifts = base_shifts([d], berlin(2026, 10, 22), berlin(2026, 10, 28))
    assert [(s.start, s.end) for s in shifts] == [
        (utc(2026, 10, 22, 7), utc(2026, 10, 22, 15)),  # CEST
        (utc(2026, 10, 23, 7), utc(2026, 10, 23, 15)),
        (utc(2026, 10, 26, 8), utc(2026, 10, 26, 16)),  # CET after 2026-10-25
        (utc(2026, 10, 27, 8), utc(2026, 10, 27, 16)),
    ]


def test_window_on_the_spring_forward_night_is_one_hour_shorter():
    # 2026-03-29: Berlin's clocks jump from 02:00 to 03:00; 01:30–03:30 lasts one hour.
    d = rotation([{"days": ["sun"], "start": "01:30", "end": "03:30"}], start=date(2026, 3, 23))
    shifts = base_shifts([d], utc(2026, 3, 28), utc(2026, 3, 30))
    assert spans(shifts) == [("alice", utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30))]
    assert oncall_at([d], [], utc(2026, 3, 29, 1, 29)).primary == ALICE
    assert oncall_at([d], [], utc(2026, 3, 29, 1, 30)).primary is None


def test_window_on_the_fall_back_night_is_one_hour_longer():
    d = rotation([{"days": ["sun"], "start": "01:30", "end": "03:30"}], start=date(2026, 10, 19))
    shifts = base_shifts([d], utc(2026, 10, 24), utc(2026, 10, 26))
    assert spans(shifts) == [("alice", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30))]


def test_window_starting_in_the_skipped_hour_starts_when_the_clock_reaches_it():
    d = rotation([{"days": ["sun"], "start": "02:30", "end": "05:00"}], start=date(2026, 3, 23))
    shifts = base_shifts([d], utc(2026, 3, 28), utc(2026, 3, 30))
    # 02:30 does not exist that night: it is read as 03:30 CEST (01:30 UTC), like handoffs.
    assert spans(shifts) == [("alice", utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 3))]


def test_an_override_outside_the_windows_puts_its_person_on_call():
    d = rotation(WEEKDAYS)
    cover = OverrideSpec(XAVIER, berlin(2026, 1, 10, 10), berlin(2026, 1, 10, 14), utc(2026, 1, 1))
    answer = oncall_at([d], [cover], berlin(2026, 1, 10, 12))
    assert (answer.primary, answer.backup) == (XAVIER, None)
    assert answer.shift is not None and answer.shift.override


def test_an_override_across_a_window_edge_covers_both_sides_and_cuts_the_piece():
    d = rotation(WEEKDAYS)
    cover = OverrideSpec(XAVIER, berlin(2026, 1, 6, 15), berlin(2026, 1, 6, 20), utc(2026, 1, 1))
    shifts = final_shifts([d], [cover], berlin(2026, 1, 6), berlin(2026, 1, 7))
    assert spans(shifts) == [
        ("alice", berlin(2026, 1, 6, 9), berlin(2026, 1, 6, 15)),
        ("xavier", berlin(2026, 1, 6, 15), berlin(2026, 1, 6, 20)),
    ]
    assert oncall_at([d], [cover], berlin(2026, 1, 6, 10)).backup == BOB


def test_windows_belong_to_their_version():
    always = Definition(date(2026, 1, 5), time(9), BERLIN, 7, (ALICE, BOB))
    later = rotation(WEEKDAYS, start=date(2026, 1, 12))
    assert oncall_at([always, later], [], berlin(2026, 1, 10, 3)).primary == ALICE
    assert oncall_at([always, later], [], berlin(2026, 1, 17, 3)).primary is None
    # The first version is always active; the second from Monday 09:00 until 17:00.
    assert active_spans([always, later], berlin(2026, 1, 11), berlin(2026, 1, 14)) == [
        (berlin(2026, 1, 11), berlin(2026, 1, 12, 17)),
        (berlin(2026, 1, 13, 9), berlin(2026, 1, 13, 17)),
    ]


def test_active_spans_before_the_first_version_are_all_active():
    d = rotation(WEEKDAYS, start=date(2026, 1, 12))
    assert active_spans([d], berlin(2026, 1, 11), berlin(2026, 1, 12, 12)) == [
        (berlin(2026, 1, 11), berlin(2026, 1, 12, 12))
    ]


def test_windows_round_trip_through_their_json_form():
    raw = [
        {"days": ["fri", "mon"], "start": "09:00", "end": "17:00"},
        {"days": ["sun"], "start": "22:00", "end": "06:00"},
    ]
    assert windows.dump(windows.parse(raw)) == [
        {"days": ["mon", "fri"], "start": "09:00", "end": "17:00"},
        {"days": ["sun"], "start": "22:00", "end": "06:00"},
    ]
    assert windows.describe(windows.parse(WEEKDAYS)) == "Mon–Fri 09:00–17:00"


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"days": ["mon"]}, "active_windows"),
        ([{"days": ["monday"], "start": "09:00", "end": "17:00"}], "active_windows[0].days"),
        ([{"days": [], "start": "09:00", "end": "17:00"}], "active_windows[0].days"),
        ([{"days": ["mon", "mon"], "start": "09:00", "end": "17:00"}], "active_windows[0].days"),
        ([{"days": ["mon"], "start": "9:00", "end": "17:00"}], "active_windows[0].start"),
        ([{"days": ["mon"], "start": "09:00", "end": "24:00"}], "active_windows[0].end"),
        ([{"days": ["mon"], "start": "09:00"}], "active_windows[0].end"),
        ([{"days": ["mon"], "start": "09:00", "end": "17:00", "tz": "UTC"}], "active_windows[0]"),
        (["mon"], "active_windows[0]"),
        (
            [
                {"days": ["mon", "tue"], "start": "09:00", "end": "17:00"},
                {"days": ["tue"], "start": "16:00", "end": "18:00"},
            ],
            "active_windows[1]",
        ),
        (  # Sunday night runs into Monday morning's window
            [
                {"days": ["mon"], "start": "05:00", "end": "12:00"},
                {"days": ["sun"], "start": "22:00", "end": "06:00"},
            ],
            "active_windows[1]",
        ),
    ],
)
def test_invalid_windows_name_the_field_path(raw, path):
    with pytest.raises(windows.WindowError) as caught:
        windows.parse(raw)
    assert path in caught.value.errors


def test_adjacent_windows_do_not_overlap_and_merge_into_one_piece():
    d = rotation(
        [
            {"days": ["mon"], "start": "09:00", "end": "12:00"},
            {"days": ["mon"], "start": "12:00", "end": "17:00"},
        ]
    )
    assert spans(base_shifts([d], berlin(2026, 1, 5), berlin(2026, 1, 6))) == [
        ("alice", berlin(2026, 1, 5, 9), berlin(2026, 1, 5, 17))
    ]


def test_a_long_span_costs_one_piece_per_window_day():
    d = rotation(WEEKDAYS)
    shifts = base_shifts([d], berlin(2026, 1, 5), berlin(2026, 1, 5) + timedelta(weeks=52))
    assert len(shifts) == 52 * 5
    assert all(s.end - s.start <= timedelta(hours=8) for s in shifts)


# Properties: for random rotations, zones (DST days included), windows and spans -----

# Fewer examples than test_schedule_properties: drawn windows that overlap are discarded.
properties = settings(max_examples=60, deadline=None)
window_times = st.sampled_from(["00:00", "01:30", "02:30", "03:30", "09:00", "17:00"]) | st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)
)


@st.composite
def active_windows(draw) -> tuple[windows.Window, ...]:
    raw = [
        {
            "days": draw(
                st.lists(st.sampled_from(windows.DAYS), min_size=1, max_size=7, unique=True)
            ),
            "start": draw(window_times),
            "end": draw(window_times),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    try:
        return windows.parse(raw)
    except windows.WindowError:
        assume(False)
        raise


def clip(spans, lo, hi):
    return [(max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi]


def merged(spans):
    found: list = []
    for a, b in sorted(spans):
        if found and a <= found[-1][1]:
            found[-1] = (found[-1][0], max(found[-1][1], b))
        else:
            found.append((a, b))
    return found


@properties
@given(st.data())
def test_pieces_tile_exactly_the_active_windows(data):
    d = replace(data.draw(definitions(inactive=True)), windows=data.draw(active_windows()))
    window = data.draw(spans_of(d))
    shifts = base_shifts([d], *window)
    lo = max(window[0], d.handoff(0))
    covered = merged(clip([(s.start, s.end) for s in shifts], lo, window[1]))
    assert covered == clip(active_spans([d], *window), lo, window[1])
    turns = slots([d], *window)
    for s in shifts:  # each piece is the person whose turn it is then
        turn = next(t for t in turns if t.start <= s.start < t.end)
        assert (turn.person and turn.person.pk) == (s.person and s.person.pk)
        assert s.end <= turn.end


@properties
@given(st.data())
def test_nobody_is_on_call_outside_the_windows_without_overrides(data):
    d = replace(data.draw(definitions()), windows=data.draw(active_windows()))
    window = data.draw(spans_of(d))
    at = instant_in(data, window)
    inside = bool(d.active(at, at + timedelta(microseconds=1)))
    answer = oncall_at([d], [], at)
    assert (answer.primary is not None) == (inside and at >= d.handoff(0))
