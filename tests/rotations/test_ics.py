"""The feeds' own iCalendar writer gives byte for byte what the icalendar library gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from icalendar import Calendar, Event, vDuration

from rotations import feeds, ics, schedule

NAMES = [
    "Alice",
    "Zoë Ünïcødé-Wörk, Jr.; \\ the second",
    "a" * 80,
    "ä" * 60,
    "x" * 72 + "\\;,",
    "ends with caret ^" + "y" * 57 + "^^^",
    "emoji 🚨" * 12,
    "back\\slash\\N and \\n",
    "; , \\ ; , \\" * 8,
]


def reference(name: str, shifts: list[tuple[Any, schedule.Shift]]) -> bytes:
    """The feed as the icalendar library renders it (what feeds.render wrote before)."""
    cal = Calendar()
    cal.add("prodid", feeds.PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", feeds.one_line(name))
    cal.add("refresh-interval", feeds.REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(feeds.REFRESH))
    for rotation, shift in shifts:
        person = shift.person
        changed = (shift.changed_at or feeds.SEQUENCE_EPOCH).astimezone(UTC)
        team = feeds.one_line(rotation.team.name) if rotation.team else "none"
        who = feeds.one_line(person.name or person.handle)
        event = Event()
        event.add("uid", feeds.uid(rotation, person, shift.start))
        event.add("dtstamp", changed)
        event.add("last-modified", changed)
        event.add("sequence", feeds.sequence(shift.changed_at))
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        suffix = " (override)" if shift.override else ""
        event.add("summary", f"On call: {feeds.one_line(rotation.name)} — {who}{suffix}")
        event.add(
            "description",
            f"Rotation: {feeds.one_line(rotation.name)}\nTeam: {team}\n"
            f"Override: {'yes' if shift.override else 'no'}",
        )
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return cast(bytes, cal.to_ical())


def case(seed: int) -> tuple[str, list[tuple[Any, schedule.Shift]]]:
    pick = random.Random(seed)
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    shifts = []
    for i in range(8):
        team = pick.choice([None, SimpleNamespace(name=pick.choice(NAMES))])
        rotation = SimpleNamespace(pk=i + 1, name=pick.choice(NAMES), team=team, slug=f"r{i}")
        person = SimpleNamespace(
            pk=pick.randrange(1, 10**6),
            name=pick.choice([*NAMES, ""]),
            handle=pick.choice(NAMES),
            inactive_since=None,
        )
        begins = start + timedelta(hours=pick.randrange(0, 5000), microseconds=pick.randrange(9))
        earlier = begins - timedelta(days=3, microseconds=pick.randrange(10**6))
        changed = pick.choice([None, earlier])
        shifts.append(
            (
                rotation,
                schedule.Shift(
                    person,
                    begins,
                    begins + timedelta(hours=pick.randrange(1, 400)),
                    override=pick.random() < 0.3,
                    changed_at=changed,
                ),
            )
        )
    return f"On call: {pick.choice(NAMES)}", shifts


@pytest.mark.parametrize("seed", range(40))
def test_the_feed_renders_the_bytes_of_the_icalendar_library(seed, settings):
    settings.ONCALL_BASE_URL = pick_host(seed)
    name, shifts = case(seed)
    assert feeds.render(name, shifts) == reference(name, shifts)


def pick_host(seed: int) -> str:
    return ["https://oncall.example.org", "http://127.0.0.1:8000/sub"][seed % 2]


@pytest.mark.parametrize("name", NAMES)
def test_folding_matches_the_library_on_awkward_lines(name):
    from icalendar.parser.string import _foldline

    for prefix in ("SUMMARY:", "DESCRIPTION:x", "X:"):
        line = prefix + ics.text(name * 2)
        assert ics.fold(line) == _foldline(line)
        assert all(len(piece.encode()) <= 75 for piece in ics.fold(line).split("\r\n"))
