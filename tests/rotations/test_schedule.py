"""Rotation arithmetic by example: DST, shift lengths, overrides, versions, inactive members.

``rotations.schedule`` is pure, so these tests need no database: a person is any object
with ``pk`` and ``inactive_since``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rotations.schedule import (
    EPSILON,
    Definition,
    OnCall,
    OverrideSpec,
    Shift,
    base_shifts,
    final_shifts,
    oncall_at,
    same,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
NINE = time(9)


@dataclass(frozen=True)
class Person:
    pk: str
    inactive_since: datetime | None = None


ALICE, BOB, CAROL, DAVE, ERIN = (Person(n) for n in ("alice", "bob", "carol", "dave", "erin"))
XAVIER, YVONNE = Person("xavier"), Person("yvonne")  # not members: cover by override


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rotation(
    *members: Person,
    start: date = date(2026, 1, 5),
    at: time = NINE,
    tz: ZoneInfo = BERLIN,
    days: int = 14,
    offset: int = 0,
    changed_at: datetime | None = None,
) -> Definition:
    return Definition(start, at, tz, days, members, offset=offset, changed_at=changed_at)


def spans(shifts: list[Shift]) -> list[tuple[str | None, datetime, datetime]]:
    return [(s.person.pk if s.person else None, s.start, s.end) for s in shifts]


def override(
    person: Person, start: datetime, end: datetime, created: int = 0, **fields
) -> OverrideSpec:
    return OverrideSpec(
        person, start, end, created_at=utc(2025, 12, 1) + timedelta(created), **fields
    )


# Berlin, 14-day shifts of alice, bob, carol from Monday 2026-01-05 09:00 CET (08:00Z).
ABC = rotation(ALICE, BOB, CAROL)
JAN5, JAN19, FEB2 = utc(2026, 1, 5, 8), utc(2026, 1, 19, 8), utc(2026, 2, 2, 8)


# --- DST ------------------------------------------------------------------------------------


def test_handoff_stays_at_local_nine_across_spring_forward():
    d = rotation(ALICE, BOB, start=date(2026, 3, 23))

    shifts = base_shifts([d], utc(2026, 3, 23, 8), utc(2026, 4, 20, 7))

    assert spans(shifts) == [
        ("alice", utc(2026, 3, 23, 8), utc(2026, 4, 6, 7)),
        ("bob", utc(2026, 4, 6, 7), utc(2026, 4, 20, 7)),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(days=14, hours=-1)
    assert all(s.start.astimezone(BERLIN).time() == NINE for s in shifts)


def test_handoff_stays_at_local_nine_across_fall_back():
    d = rotation(ALICE, BOB, start=date(2026, 10, 19))

    shifts = base_shifts([d], utc(2026, 10, 19, 7), utc(2026, 11, 16, 8))

    assert spans(shifts) == [
        ("alice", utc(2026, 10, 19, 7), utc(2026, 11, 2, 8)),
        ("bob", utc(2026, 11, 2, 8), utc(2026, 11, 16, 8)),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(days=14, hours=1)
    assert all(s.start.astimezone(BERLIN).time() == NINE for s in shifts)


def test_handoff_on_the_day_of_spring_forward_is_at_local_nine():
    d = rotation(ALICE, BOB, start=date(2026, 3, 15))

    assert d.handoff(1) == utc(2026, 3, 29, 7)  # 09:00 CEST
    assert oncall_at([d], [], utc(2026, 3, 29, 7) - EPSILON).primary == ALICE
    assert oncall_at([d], [], utc(2026, 3, 29, 7)).primary == BOB


def test_one_day_shift_on_spring_forward_is_23_hours_in_utc():
    d = rotation(ALICE, BOB, start=date(2026, 3, 28), days=1)

    shifts = base_shifts([d], utc(2026, 3, 28, 8), utc(2026, 3, 30, 8))

    assert spans(shifts) == [
        ("alice", utc(2026, 3, 28, 8), utc(2026, 3, 29, 7)),
        ("bob", utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)),
        ("alice", utc(2026, 3, 30, 7), utc(2026, 3, 31, 7)),
    ]


def test_one_day_shift_on_fall_back_is_25_hours_in_utc():
    d = rotation(ALICE, BOB, start=date(2026, 10, 24), days=1)

    shifts = base_shifts([d], utc(2026, 10, 24, 7), utc(2026, 10, 26, 8))

    assert spans(shifts) == [
        ("alice", utc(2026, 10, 24, 7), utc(2026, 10, 25, 8)),
        ("bob", utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    ]


def test_new_york_21_day_shift_is_an_hour_shorter_across_spring_forward():
    d = rotation(ALICE, BOB, CAROL, start=date(2026, 2, 23), tz=NEW_YORK, days=21)

    shifts = base_shifts([d], utc(2026, 2, 23, 14), utc(2026, 4, 6, 13))

    assert spans(shifts) == [
        ("alice", utc(2026, 2, 23, 14), utc(2026, 3, 16, 13)),
        ("bob", utc(2026, 3, 16, 13), utc(2026, 4, 6, 13)),
    ]


def test_new_york_21_day_shift_is_an_hour_longer_across_fall_back():
    d = rotation(ALICE, BOB, CAROL, start=date(2026, 10, 19), tz=NEW_YORK, days=21)

    shifts = base_shifts([d], utc(2026, 10, 19, 13), utc(2026, 11, 30, 14))

    assert spans(shifts) == [
        ("alice", utc(2026, 10, 19, 13), utc(2026, 11, 9, 14)),
        ("bob", utc(2026, 11, 9, 14), utc(2026, 11, 30, 14)),
    ]


def test_new_york_handoff_on_the_day_of_spring_forward_is_at_local_nine():
    d = rotation(ALICE, BOB, start=date(2026, 3, 1), tz=NEW_YORK, days=7)

    assert d.handoff(0) == utc(2026, 3, 1, 14)  # EST
    assert d.handoff(1) == utc(2026, 3, 8, 13)  # EDT, the same day the clocks change


def test_lord_howe_shift_is_thirty_minutes_longer_across_fall_back():
    d = rotation(ALICE, BOB, start=date(2026, 3, 30), tz=LORD_HOWE)

    shifts = base_shifts([d], utc(2026, 3, 29, 22), utc(2026, 3, 29, 23))

    assert spans(shifts) == [("alice", utc(2026, 3, 29, 22), utc(2026, 4, 12, 22, 30))]
    assert shifts[0].end.astimezone(LORD_HOWE).time() == NINE


def test_lord_howe_shift_is_thirty_minutes_shorter_across_spring_forward():
    d = rotation(ALICE, BOB, start=date(2026, 9, 28), tz=LORD_HOWE)

    shifts = base_shifts([d], utc(2026, 9, 27, 22, 30), utc(2026, 9, 27, 23))

    assert spans(shifts) == [("alice", utc(2026, 9, 27, 22, 30), utc(2026, 10, 11, 22))]
    assert shifts[0].end.astimezone(LORD_HOWE).time() == NINE


def test_kolkata_shifts_are_exactly_whole_days_all_year():
    d = rotation(ALICE, BOB, CAROL, start=date(2026, 1, 5), tz=KOLKATA)

    shifts = base_shifts([d], utc(2026, 1, 5), utc(2027, 1, 5))

    assert shifts[0].start == utc(2026, 1, 5, 3, 30)
    assert {s.end - s.start for s in shifts} == {timedelta(days=14)}
    assert {s.start.astimezone(KOLKATA).time() for s in shifts} == {NINE}


def test_handoff_in_spring_forward_gap_happens_after_the_skipped_hour():
    # 02:30 does not exist in Berlin on 2026-03-29: the handoff is at 03:30 CEST.
    d = rotation(ALICE, BOB, start=date(2026, 3, 28), at=time(2, 30), days=1)

    assert d.handoff(1) == utc(2026, 3, 29, 1, 30)
    assert d.handoff(1).astimezone(BERLIN).time() == time(3, 30)
    shifts = base_shifts([d], d.handoff(0), d.handoff(2) + EPSILON)
    assert spans(shifts) == [
        ("alice", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30)),
        ("bob", utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)),
        ("alice", utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)),
    ]


def test_handoff_in_lord_howe_gap_happens_thirty_minutes_later():
    # 02:15 does not exist on Lord Howe on 2026-10-04 (02:00 -> 02:30).
    d = rotation(ALICE, BOB, start=date(2026, 10, 4), at=time(2, 15), tz=LORD_HOWE)

    assert d.handoff(0) == utc(2026, 10, 3, 15, 45)
    assert d.handoff(0).astimezone(LORD_HOWE).time() == time(2, 45)


def test_ambiguous_handoff_takes_the_first_occurrence():
    # 02:30 happens twice in Berlin on 2026-10-25: first at CEST (00:30Z), then CET.
    d = rotation(ALICE, BOB, start=date(2026, 10, 24), at=time(2, 30), days=1)

    assert d.handoff(1) == utc(2026, 10, 25, 0, 30)
    assert d.handoff(1).astimezone(BERLIN).fold == 0
    assert d.handoff(2) - d.handoff(1) == timedelta(hours=25)


def test_ambiguous_lord_howe_handoff_takes_the_first_occurrence():
    # 01:45 happens twice on Lord Howe on 2026-04-05 (02:00 LHDT -> 01:30 LHST).
    d = rotation(ALICE, start=date(2026, 4, 5), at=time(1, 45), tz=LORD_HOWE)

    assert d.handoff(0) == utc(2026, 4, 4, 14, 45)


# --- Shift lengths, order, windows ------------------------------------------------------------


def test_fourteen_day_shifts_rotate_through_members_in_order():
    shifts = base_shifts([ABC], JAN5, utc(2026, 3, 16, 8))

    assert [s.person for s in shifts] == [ALICE, BOB, CAROL, ALICE, BOB]
    assert [s.start for s in shifts] == [JAN5 + timedelta(days=14 * i) for i in range(5)]


def test_twenty_one_day_shifts_rotate_through_members_in_order():
    d = rotation(ALICE, BOB, days=21)

    shifts = base_shifts([d], JAN5, JAN5 + timedelta(days=63))

    assert spans(shifts) == [
        ("alice", JAN5, utc(2026, 1, 26, 8)),
        ("bob", utc(2026, 1, 26, 8), utc(2026, 2, 16, 8)),
        ("alice", utc(2026, 2, 16, 8), utc(2026, 3, 9, 8)),
    ]


def test_one_day_shifts_hand_off_every_day():
    d = rotation(ALICE, BOB, CAROL, days=1)

    shifts = base_shifts([d], JAN5, JAN5 + timedelta(days=4))

    assert [s.person for s in shifts] == [ALICE, BOB, CAROL, ALICE]
    assert {s.end - s.start for s in shifts} == {timedelta(days=1)}


def test_offset_starts_the_order_at_a_later_member():
    d = rotation(ALICE, BOB, CAROL, offset=1)

    assert [s.person for s in base_shifts([d], JAN5, FEB2 + EPSILON)] == [BOB, CAROL, ALICE]


def test_shifts_overlapping_the_window_are_returned_whole():
    window = (utc(2026, 1, 10), utc(2026, 1, 20))

    assert spans(base_shifts([ABC], *window)) == [
        ("alice", JAN5, JAN19),
        ("bob", JAN19, FEB2),
    ]
    assert spans(final_shifts([ABC], [], *window)) == spans(base_shifts([ABC], *window))


def test_window_is_half_open_at_both_ends():
    assert spans(base_shifts([ABC], JAN19, FEB2)) == [("bob", JAN19, FEB2)]
    assert spans(base_shifts([ABC], JAN19 - EPSILON, JAN19)) == [("alice", JAN5, JAN19)]
    assert base_shifts([ABC], JAN19, JAN19) == []


def test_the_incoming_member_is_on_call_at_the_handoff_instant():
    assert oncall_at([ABC], [], JAN19 - EPSILON).primary == ALICE
    assert oncall_at([ABC], [], JAN19).primary == BOB


def test_nobody_is_on_call_before_the_first_handoff():
    assert oncall_at([ABC], [], JAN5 - EPSILON) == OnCall(None, None, None)
    assert base_shifts([ABC], utc(2025, 1, 1), JAN5) == []
    assert spans(final_shifts([ABC], [], utc(2025, 1, 1), JAN5 + EPSILON)) == [
        ("alice", JAN5, JAN19)
    ]


def test_backup_is_the_next_member_in_order():
    assert oncall_at([ABC], [], JAN5) == OnCall(ALICE, BOB, Shift(ALICE, JAN5, JAN19))
    assert oncall_at([ABC], [], JAN19).backup == CAROL


def test_backup_of_the_last_member_wraps_to_the_first():
    assert oncall_at([ABC], [], FEB2) == OnCall(
        CAROL, ALICE, Shift(CAROL, FEB2, utc(2026, 2, 16, 8))
    )


def test_single_member_rotation_has_no_backup():
    d = rotation(ALICE)

    assert oncall_at([d], [], JAN19) == OnCall(ALICE, None, Shift(ALICE, JAN19, FEB2))


def test_version_without_members_is_a_gap():
    d = rotation()

    assert spans(base_shifts([d], JAN5, JAN19)) == [(None, JAN5, JAN19)]
    assert oncall_at([d], [], JAN5) == OnCall(None, None, None)


def test_same_compares_by_pk_and_nobody_is_never_the_same():
    assert same(ALICE, Person("alice", inactive_since=JAN5))
    assert not same(ALICE, BOB)
    assert not same(None, None)
    assert not same(ALICE, None)


# --- Overrides ------------------------------------------------------------------------------


def test_override_splits_a_shift_in_three():
    o = override(XAVIER, utc(2026, 1, 8, 8), utc(2026, 1, 10, 12))

    shifts = final_shifts([ABC], [o], JAN5, JAN19)

    assert spans(shifts) == [
        ("alice", JAN5, utc(2026, 1, 8, 8)),
        ("xavier", utc(2026, 1, 8, 8), utc(2026, 1, 10, 12)),
        ("alice", utc(2026, 1, 10, 12), JAN19),
    ]
    assert [s.override for s in shifts] == [False, True, False]


def test_override_across_a_handoff_cuts_both_shifts():
    o = override(XAVIER, utc(2026, 1, 18), utc(2026, 1, 20))

    assert spans(final_shifts([ABC], [o], JAN5, FEB2)) == [
        ("alice", JAN5, utc(2026, 1, 18)),
        ("xavier", utc(2026, 1, 18), utc(2026, 1, 20)),
        ("bob", utc(2026, 1, 20), FEB2),
    ]


def test_later_created_override_wins_and_splits_the_earlier_one_around_it():
    earlier = override(XAVIER, utc(2026, 1, 7), utc(2026, 1, 12), created=1)
    later = override(YVONNE, utc(2026, 1, 9), utc(2026, 1, 10), created=2)

    # Creation time decides, not the order of the list.
    shifts = final_shifts([ABC], [later, earlier], JAN5, JAN19)

    assert spans(shifts) == [
        ("alice", JAN5, utc(2026, 1, 7)),
        ("xavier", utc(2026, 1, 7), utc(2026, 1, 9)),
        ("yvonne", utc(2026, 1, 9), utc(2026, 1, 10)),
        ("xavier", utc(2026, 1, 10), utc(2026, 1, 12)),
        ("alice", utc(2026, 1, 12), JAN19),
    ]
    assert oncall_at([ABC], [later, earlier], utc(2026, 1, 9, 12)).primary == YVONNE


def test_later_created_override_cuts_the_overlapping_end_of_an_earlier_one():
    earlier = override(XAVIER, utc(2026, 1, 7), utc(2026, 1, 12), created=1)
    later = override(YVONNE, utc(2026, 1, 10), utc(2026, 1, 14), created=2)

    assert spans(final_shifts([ABC], [earlier, later], JAN5, JAN19)) == [
        ("alice", JAN5, utc(2026, 1, 7)),
        ("xavier", utc(2026, 1, 7), utc(2026, 1, 10)),
        ("yvonne", utc(2026, 1, 10), utc(2026, 1, 14)),
        ("alice", utc(2026, 1, 14), JAN19),
    ]


def test_earlier_created_override_under_a_later_one_is_hidden():
    earlier = override(XAVIER, utc(2026, 1, 9), utc(2026, 1, 10), created=1)
    later = override(YVONNE, utc(2026, 1, 7), utc(2026, 1, 12), created=2)

    assert spans(final_shifts([ABC], [later, earlier], JAN5, JAN19)) == [
        ("alice", JAN5, utc(2026, 1, 7)),
        ("yvonne", utc(2026, 1, 7), utc(2026, 1, 12)),
        ("alice", utc(2026, 1, 12), JAN19),
    ]


def test_override_keeps_the_rotation_backup():
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9))

    assert oncall_at([ABC], [o], utc(2026, 1, 8, 12)) == OnCall(
        XAVIER, BOB, Shift(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9), override=True)
    )


def test_override_naming_a_backup_sets_the_backup():
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9), backup=YVONNE)

    found = oncall_at([ABC], [o], utc(2026, 1, 8, 12))

    assert (found.primary, found.backup) == (XAVIER, YVONNE)
    assert oncall_at([ABC], [o], utc(2026, 1, 9)).backup == BOB  # after it, as before


def test_override_by_the_rotation_backup_moves_the_backup_to_the_next_member():
    o = override(BOB, utc(2026, 1, 8), utc(2026, 1, 9))

    found = oncall_at([ABC], [o], utc(2026, 1, 8, 12))

    assert (found.primary, found.backup) == (BOB, CAROL)


def test_override_by_the_member_on_duty_keeps_the_backup():
    o = override(ALICE, utc(2026, 1, 8), utc(2026, 1, 9))

    found = oncall_at([ABC], [o], utc(2026, 1, 8, 12))

    assert (found.primary, found.backup, found.shift.override) == (ALICE, BOB, True)


def test_override_never_makes_the_primary_their_own_backup():
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9), backup=XAVIER)

    found = oncall_at([ABC], [o], utc(2026, 1, 8, 12))

    assert (found.primary, found.backup) == (XAVIER, None)


def test_override_of_a_single_member_rotation_makes_the_displaced_member_backup():
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9))

    found = oncall_at([rotation(ALICE)], [o], utc(2026, 1, 8, 12))

    assert (found.primary, found.backup) == (XAVIER, ALICE)


def test_oncall_shift_ends_where_an_override_outside_the_window_starts():
    # Regression: only overrides overlapping [at, at + EPSILON) were applied, so the
    # answer said alice's shift ran to Jan 19 although xavier takes over on Jan 8.
    o = override(XAVIER, utc(2026, 1, 8, 8), utc(2026, 1, 10, 12))

    assert oncall_at([ABC], [o], utc(2026, 1, 6)).shift == Shift(ALICE, JAN5, utc(2026, 1, 8, 8))
    assert oncall_at([ABC], [o], utc(2026, 1, 12)).shift == Shift(
        ALICE, utc(2026, 1, 10, 12), JAN19
    )


def test_shifts_in_a_window_are_cut_by_overrides_outside_it():
    o = override(XAVIER, utc(2026, 1, 8, 8), utc(2026, 1, 10, 12))

    assert spans(final_shifts([ABC], [o], utc(2026, 1, 6), utc(2026, 1, 7))) == [
        ("alice", JAN5, utc(2026, 1, 8, 8))
    ]


def test_override_piece_in_a_window_is_cut_by_a_later_override_outside_it():
    earlier = override(XAVIER, utc(2026, 1, 7), utc(2026, 1, 12), created=1)
    later = override(YVONNE, utc(2026, 1, 10), utc(2026, 1, 14), created=2)

    assert spans(final_shifts([ABC], [earlier, later], utc(2026, 1, 8), utc(2026, 1, 9))) == [
        ("xavier", utc(2026, 1, 7), utc(2026, 1, 10))
    ]


def test_deleted_override_changes_nobody_but_dates_the_shift():
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9), changed_at=utc(2026, 1, 2), deleted=True)

    shifts = final_shifts([ABC], [o], JAN5, FEB2)

    assert spans(shifts) == [("alice", JAN5, JAN19), ("bob", JAN19, FEB2)]
    assert [s.changed_at for s in shifts] == [utc(2026, 1, 2), None]
    assert oncall_at([ABC], [o], utc(2026, 1, 8, 12)).primary == ALICE


def test_override_pieces_carry_the_override_change_time():
    d = rotation(ALICE, BOB, changed_at=utc(2025, 12, 1))
    o = override(XAVIER, utc(2026, 1, 8), utc(2026, 1, 9), changed_at=utc(2026, 1, 3))

    shifts = final_shifts([d], [o], JAN5, FEB2)

    assert [s.changed_at for s in shifts] == [utc(2026, 1, 3)] * 3 + [utc(2025, 12, 1)]


def test_override_before_the_first_handoff_is_on_call_without_backup():
    o = override(XAVIER, utc(2026, 1, 1), utc(2026, 1, 2))

    found = oncall_at([ABC], [o], utc(2026, 1, 1, 12))

    assert (found.primary, found.backup) == (XAVIER, None)
    assert oncall_at([ABC], [o], utc(2026, 1, 3)) == OnCall(None, None, None)


# --- Versions (edits) -----------------------------------------------------------------------


def test_edit_leaves_earlier_shifts_exactly_untouched():
    v1 = rotation(ALICE, BOB, CAROL, changed_at=utc(2025, 12, 1))
    v2 = rotation(DAVE, ERIN, start=date(2026, 2, 16), days=7, changed_at=utc(2026, 2, 1))
    window = (utc(2025, 12, 1), utc(2026, 3, 9, 8))

    before = base_shifts([v1], *window)
    after = base_shifts([v1, v2], *window)

    assert after[:3] == [s for s in before if s.end <= v2.handoff(0)]
    assert spans(after[3:]) == [
        ("dave", utc(2026, 2, 16, 8), utc(2026, 2, 23, 8)),
        ("erin", utc(2026, 2, 23, 8), utc(2026, 3, 2, 8)),
        ("dave", utc(2026, 3, 2, 8), utc(2026, 3, 9, 8)),
    ]
    assert {s.changed_at for s in after[3:]} == {utc(2026, 2, 1)}


def test_versions_are_ordered_by_first_handoff_not_by_list_order():
    v1 = rotation(ALICE, BOB, CAROL)
    v2 = rotation(DAVE, ERIN, start=date(2026, 2, 16), days=7)
    window = (JAN5, utc(2026, 3, 9, 8))

    assert base_shifts([v2, v1], *window) == base_shifts([v1, v2], *window)


def test_edit_to_another_zone_and_time_takes_effect_at_its_own_first_handoff():
    v1 = rotation(ALICE, BOB, CAROL)
    v2 = rotation(DAVE, ERIN, start=date(2026, 2, 16), at=time(10), tz=NEW_YORK, days=7)

    shifts = base_shifts([v1, v2], FEB2, utc(2026, 2, 23, 15))

    # The old version is in force until 10:00 New York: alice's turn starts at 09:00
    # Berlin as before and is cut short there.
    assert spans(shifts) == [
        ("carol", FEB2, utc(2026, 2, 16, 8)),
        ("alice", utc(2026, 2, 16, 8), utc(2026, 2, 16, 15)),
        ("dave", utc(2026, 2, 16, 15), utc(2026, 2, 23, 15)),
    ]


def test_edit_starting_mid_shift_cuts_the_running_shift_at_its_first_handoff():
    v2 = rotation(DAVE, ERIN, start=date(2026, 1, 12))

    shifts = base_shifts([ABC, v2], JAN5, utc(2026, 1, 26, 8))

    assert spans(shifts) == [
        ("alice", JAN5, utc(2026, 1, 12, 8)),
        ("dave", utc(2026, 1, 12, 8), utc(2026, 1, 26, 8)),
    ]
    assert oncall_at([ABC, v2], [], utc(2026, 1, 12, 8)) == OnCall(
        DAVE, ERIN, Shift(DAVE, utc(2026, 1, 12, 8), utc(2026, 1, 26, 8))
    )


def test_edit_with_offset_continues_the_order():
    v2 = rotation(ALICE, BOB, CAROL, DAVE, start=date(2026, 2, 16), offset=1)

    shifts = base_shifts([ABC, v2], JAN5, utc(2026, 3, 16, 8))

    assert [s.person for s in shifts] == [ALICE, BOB, CAROL, BOB, CAROL]


# --- Inactive members -----------------------------------------------------------------------


def test_member_deactivated_mid_shift_is_replaced_by_the_next_member_from_that_instant():
    gone = utc(2026, 1, 8, 12)
    d = rotation(replace(ALICE, inactive_since=gone), BOB, CAROL, changed_at=utc(2025, 12, 1))

    shifts = base_shifts([d], JAN5, utc(2026, 3, 2, 8))

    assert spans(shifts) == [
        ("alice", JAN5, gone),
        ("bob", gone, JAN19),
        ("bob", JAN19, FEB2),
        ("carol", FEB2, utc(2026, 2, 16, 8)),
        ("bob", utc(2026, 2, 16, 8), utc(2026, 3, 2, 8)),  # alice's turn
    ]
    assert [s.changed_at for s in shifts] == [gone, gone, utc(2025, 12, 1), utc(2025, 12, 1), gone]
    assert oncall_at([d], [], gone - EPSILON).primary.pk == "alice"
    assert oncall_at([d], [], gone) == OnCall(BOB, CAROL, Shift(BOB, gone, JAN19, changed_at=gone))


def test_earlier_shifts_of_a_deactivated_member_stay_theirs():
    gone = utc(2026, 2, 20)
    d = rotation(replace(ALICE, inactive_since=gone), BOB, CAROL)

    shifts = base_shifts([d], JAN5, utc(2026, 3, 2, 8))

    assert spans(shifts)[0] == ("alice", JAN5, JAN19)
    assert spans(shifts)[3:] == [
        ("alice", utc(2026, 2, 16, 8), gone),
        ("bob", gone, utc(2026, 3, 2, 8)),
    ]


def test_member_deactivated_at_a_handoff_is_skipped_from_that_shift_on():
    d = rotation(BOB, replace(ALICE, inactive_since=JAN19), CAROL)

    assert [s.person for s in base_shifts([d], JAN5, FEB2)] == [BOB, CAROL]


def test_substitute_who_is_deactivated_later_covers_until_then():
    # Regression: bob was skipped for the whole rest of alice's shift although he was
    # active (and next in order) until Jan 10.
    alice_gone, bob_gone = utc(2026, 1, 7, 8), utc(2026, 1, 10, 8)
    d = rotation(
        replace(ALICE, inactive_since=alice_gone), replace(BOB, inactive_since=bob_gone), CAROL
    )

    assert spans(base_shifts([d], JAN5, JAN19)) == [
        ("alice", JAN5, alice_gone),
        ("bob", alice_gone, bob_gone),
        ("carol", bob_gone, JAN19),
    ]
    assert oncall_at([d], [], utc(2026, 1, 8)).primary.pk == "bob"
    assert oncall_at([d], [], utc(2026, 1, 8)).backup == CAROL


def test_deactivating_someone_else_does_not_split_the_shift():
    d = rotation(ALICE, BOB, replace(CAROL, inactive_since=utc(2026, 1, 8)))

    assert spans(base_shifts([d], JAN5, JAN19)) == [("alice", JAN5, JAN19)]


def test_all_members_inactive_leaves_a_gap_with_nobody_on_call():
    gone = utc(2026, 1, 10)
    d = rotation(*(replace(p, inactive_since=gone) for p in (ALICE, BOB, CAROL)))

    assert spans(base_shifts([d], JAN5, FEB2)) == [
        ("alice", JAN5, gone),
        (None, gone, JAN19),
        (None, JAN19, FEB2),
    ]
    assert oncall_at([d], [], gone) == OnCall(None, None, None)
    assert oncall_at([d], [], gone - EPSILON).backup.pk == "bob"


def test_override_covers_a_gap():
    gone = utc(2026, 1, 10)
    d = rotation(*(replace(p, inactive_since=gone) for p in (ALICE, BOB)))
    o = override(XAVIER, utc(2026, 1, 11), utc(2026, 1, 12))

    found = oncall_at([d], [o], utc(2026, 1, 11))

    assert (found.primary, found.backup) == (XAVIER, None)


def test_backup_skips_inactive_members():
    d = rotation(ALICE, replace(BOB, inactive_since=utc(2025, 1, 1)), CAROL)

    assert oncall_at([d], [], JAN5).backup == CAROL


def test_only_one_active_member_has_no_backup():
    d = rotation(ALICE, replace(BOB, inactive_since=utc(2025, 1, 1)))

    assert oncall_at([d], [], JAN5) == OnCall(ALICE, None, Shift(ALICE, JAN5, JAN19))
