"""Active windows as the rest of rotations/ shows them: ICS feeds (one event per piece,
stable UIDs), handoff notices (one per turn), the timeline and on-call pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone
from icalendar import Calendar

from rotations import feeds, notices, selectors, services, windows
from rotations.models import Person, Rotation

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = windows.parse(
    [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def people():
    return [
        Person.objects.create(handle=h, name=h.title(), email=f"{h}@example.org")
        for h in ("alice", "bob")
    ]


@pytest.fixture
def rotation(people):
    """Weekly turns from Monday 2026-03-16 09:00 Berlin, weekdays 09:00–17:00 only."""
    spec = services.ScheduleSpec(people, 7, time(9), "Europe/Berlin", WEEKDAYS)
    return services.create_rotation(
        slug="day", name="Day", team=None, spec=spec, start=date(2026, 3, 16)
    )


def events(client, rotation) -> list[tuple[str, datetime, datetime]]:
    response = client.get(f"/ical/{feeds.issue_token(rotation)}.ics")
    assert response.status_code == 200
    found = Calendar.from_ical(response.content).events
    rows = [(str(e["UID"]), e.start.astimezone(UTC), e.end.astimezone(UTC)) for e in found]
    return sorted(rows, key=lambda row: row[1])


def test_feed_has_one_event_per_window_with_stable_uids_across_dst(client, rotation, settings):
    settings.ONCALL_FEED_DAYS_BACK, settings.ONCALL_FEED_DAYS_AHEAD = 0, 7
    with time_machine.travel(berlin(2026, 3, 26, 12), tick=False):  # a Thursday
        before = events(client, rotation)
    # Thursday and Friday in CET, the next week in CEST (from 2026-03-29): all 09–17.
    assert [(start, end) for _, start, end in before] == [
        (berlin(2026, 3, 26, 9), berlin(2026, 3, 26, 17)),
        (berlin(2026, 3, 27, 9), berlin(2026, 3, 27, 17)),
        (berlin(2026, 3, 30, 9), berlin(2026, 3, 30, 17)),
        (berlin(2026, 3, 31, 9), berlin(2026, 3, 31, 17)),
        (berlin(2026, 4, 1, 9), berlin(2026, 4, 1, 17)),
        (berlin(2026, 4, 2, 9), berlin(2026, 4, 2, 17)),
    ]
    assert before[0][1] == datetime(2026, 3, 26, 8, tzinfo=UTC)
    assert before[2][1] == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert len({uid for uid, _, _ in before}) == len(before)
    with time_machine.travel(berlin(2026, 3, 27, 12), tick=False):
        later = events(client, rotation)
    # A fetch a day later keeps every piece it shares with the earlier one under its UID.
    assert set(before[1:]) <= set(later)


def test_feed_pieces_belong_to_the_person_of_the_turn(client, rotation, settings):
    settings.ONCALL_FEED_DAYS_BACK, settings.ONCALL_FEED_DAYS_AHEAD = 0, 7
    with time_machine.travel(berlin(2026, 3, 27, 12), tick=False):
        found = events(client, rotation)
    people = {uid.split("-")[2] for uid, _, _ in found}
    alice, bob = (f"p{p.pk}" for p in Person.objects.order_by("handle"))
    assert [uid.split("-")[2] for uid, _, _ in found] == [bob] + [alice] * 5
    assert people == {alice, bob}


def due(at: datetime) -> list[tuple[str, str, datetime]]:
    return [(s.person.handle, kind, s.start) for _, s, kind in notices.due_notices(at)]


def test_a_turn_is_one_handoff_not_one_per_window(rotation, settings):
    settings.ONCALL_HANDOFF_NOTICE_HOURS = 24
    # Monday 2026-03-23 09:00 is bob's turn: he hears a day before and at its start.
    assert due(berlin(2026, 3, 22, 10)) == [("bob", "upcoming", berlin(2026, 3, 23, 9))]
    assert due(berlin(2026, 3, 23, 9, 1)) == [("bob", "started", berlin(2026, 3, 23, 9))]
    # His Tuesday morning continues the same turn after the night: no notice.
    assert due(berlin(2026, 3, 23, 10)) == []
    assert due(berlin(2026, 3, 24, 9, 1)) == []
    # Monday after the weekend is alice's turn again.
    assert due(berlin(2026, 3, 29, 10)) == [("alice", "upcoming", berlin(2026, 3, 30, 9))]


def test_without_windows_notices_are_unchanged(people, settings):
    settings.ONCALL_HANDOFF_NOTICE_HOURS = 24
    spec = services.ScheduleSpec(people, 7, time(9), "Europe/Berlin")
    services.create_rotation(slug="all", name="All", team=None, spec=spec, start=date(2026, 3, 16))
    assert due(berlin(2026, 3, 22, 10)) == [("bob", "upcoming", berlin(2026, 3, 23, 9))]


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create_user("viewer", "viewer@example.org", "pw-12345678")
    client.force_login(user)
    return client


def test_timeline_page_says_nobody_is_on_call_outside_the_windows(viewer, rotation):
    with time_machine.travel(berlin(2026, 3, 28, 12), tick=False):  # Saturday
        response = viewer.get("/rotations/day/?weeks=2")
    body = response.content.decode()
    assert "Nobody is on call now: outside the rotation's active hours" in body
    assert "Active Mon–Fri 09:00–17:00 (Europe/Berlin)" in body
    assert "Nobody is on call now.</p>" not in body  # that warning is for gaps
    assert not response.context["gaps"]
    bars = [b for lane in response.context["lanes"] for b in lane.bars]
    assert len(bars) == 10  # two weeks of weekdays
    assert all(b.shift.end - b.shift.start == timedelta(hours=8) for b in bars)
    assert response.context["next_shift"].start == berlin(2026, 3, 30, 9)


def test_timeline_page_inside_a_window_names_the_person(viewer, rotation):
    with time_machine.travel(berlin(2026, 3, 27, 12), tick=False):
        response = viewer.get("/rotations/day/")
    assert response.context["oncall"].primary.handle == "bob"
    assert response.context["oncall"].shift.end == berlin(2026, 3, 27, 17)
    assert "outside the rotation" not in response.content.decode()


def test_next_handoffs_skip_the_same_turn_resuming_after_off_hours(rotation):
    (answer,) = selectors.rotations_now(Rotation.objects.all(), berlin(2026, 3, 24, 12))
    assert answer.oncall.primary.handle == "bob" and not answer.off_hours
    # Not bob's Wednesday to Friday mornings: alice's Monday, then bob's, then alice's.
    assert [(s.person.handle, s.start) for s in answer.upcoming] == [
        ("alice", berlin(2026, 3, 30, 9)),
        ("bob", berlin(2026, 4, 6, 9)),
        ("alice", berlin(2026, 4, 13, 9)),
    ]


def test_oncall_overview_says_off_hours_not_a_gap(viewer, rotation):
    with time_machine.travel(berlin(2026, 3, 28, 12), tick=False):
        (answer,) = selectors.rotations_now(Rotation.objects.all(), timezone.now())
        body = viewer.get("/oncall/").content.decode()
    assert answer.off_hours and answer.oncall.primary is None
    assert "off hours: nobody on call" in body
