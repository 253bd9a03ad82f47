"""The secret ICS feeds (docs/api.md, "Feeds"), read back by icalendar and by ical.js."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone
from icalendar import Calendar

from rotations import feeds, selectors, services
from rotations.models import Override, Person, Rotation, Team
from rotations.services import ScheduleSpec

pytestmark = pytest.mark.django_db

HERE = Path(__file__).resolve().parent
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE_URL = "https://oncall.example.org"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _base_url(settings) -> None:
    settings.ONCALL_BASE_URL = BASE_URL


@pytest.fixture
def world(clock) -> SimpleNamespace:
    """Alice and Bob take turns on Platform (weekly, Monday 09:00 Berlin, across the DST
    change of 2025-03-30); Carol and Alice on Database (fortnightly, 00:00 UTC); both
    belong to team Infra. Alice is also alone on Web, team Web."""
    alice = Person.objects.create(handle="alice", name="Alice")
    bob = Person.objects.create(handle="bob", name="Bob")
    # Long and not ASCII, so summaries fold inside multi-byte characters.
    carol = Person.objects.create(
        handle="carol", name="Zoë Ångström-Łukasiewicz-Brzęczyszczykiewicz"
    )
    infra = Team.objects.create(slug="infra", name="Infra")
    web_team = Team.objects.create(slug="web", name="Web")
    platform = services.create_rotation(
        slug="platform",
        name="Platform",
        team=infra,
        spec=ScheduleSpec([alice, bob], 7, time(9), "Europe/Berlin"),
        start=date(2025, 1, 6),
    )
    database = services.create_rotation(
        slug="database",
        name="Database",
        team=infra,
        spec=ScheduleSpec([carol, alice], 14, time(0), "UTC"),
        start=date(2025, 1, 1),
    )
    web = services.create_rotation(
        slug="web",
        name="Web",
        team=web_team,
        spec=ScheduleSpec([alice], 28, time(12), "America/New_York"),
        start=date(2025, 2, 3),
    )
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        carol=carol,
        infra=infra,
        web_team=web_team,
        platform=platform,
        database=database,
        web=web,
    )


def fetch(client, secret: str, **headers: str):
    return client.get(f"/ical/{secret}.ics", headers=headers)


def read(response) -> list[dict]:
    """The events of a feed response as icalendar reads them."""
    assert response.status_code == 200, response.content
    return [
        {
            "uid": str(event["UID"]),
            "start": event.start.astimezone(UTC),
            "end": event.end.astimezone(UTC),
            "summary": str(event["SUMMARY"]),
            "sequence": int(event["SEQUENCE"]),
            "last_modified": event["LAST-MODIFIED"].dt,
            "transp": str(event["TRANSP"]),
            "description": str(event["DESCRIPTION"]),
        }
        for event in Calendar.from_ical(response.content).events
    ]


def rows(events: list[dict]) -> list[tuple]:
    return sorted((e["uid"], e["start"], e["end"], e["summary"]) for e in events)


def expected(rotations: list[Rotation], person: Person | None = None) -> list[tuple]:
    """(uid, start, end, summary) of every final shift the schedule has in the feed window."""
    span = feeds.window(timezone.now())
    query = Rotation.objects.filter(pk__in=[r.pk for r in rotations]).select_related("team")
    found = []
    for item in selectors.load(query, span):
        for shift in item.shifts(*span):
            if shift.person is None or (person is not None and shift.person.pk != person.pk):
                continue
            name = f"On call: {item.rotation.name} — {shift.person.name}"
            found.append(
                (
                    feeds.uid(item.rotation, shift.person, shift.start),
                    shift.start.astimezone(UTC),
                    shift.end.astimezone(UTC),
                    name + (" (override)" if shift.override else ""),
                )
            )
    return sorted(found)


def by_start(events: list[dict]) -> dict[datetime, dict]:
    return {e["start"]: e for e in events}


# Tokens and URLs


def test_issue_token_stores_only_the_hash(world):
    secret = feeds.issue_token(world.alice)
    assert secret.startswith("p_")
    assert len(secret) > 40
    world.alice.refresh_from_db()
    assert world.alice.feed_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert world.alice.feed_issued_at == NOW
    stored = json.dumps(list(Person.objects.values()), default=str)
    assert secret not in stored
    assert secret[2:] not in stored
    assert feeds.issue_token(world.infra).startswith("t_")
    assert feeds.issue_token(world.platform).startswith("r_")


def test_feed_urls_are_absolute_with_a_webcal_twin(world, client):
    secret = feeds.issue_token(world.platform)
    urls = feeds.feed_urls(secret)
    assert urls == {
        "ical_url": f"https://oncall.example.org/ical/{secret}.ics",
        "webcal_url": f"webcal://oncall.example.org/ical/{secret}.ics",
    }
    assert client.get(urlsplit(urls["ical_url"]).path).status_code == 200


def test_reset_kills_the_old_token(world, client):
    old = feeds.issue_token(world.alice)
    assert fetch(client, old).status_code == 200
    new = feeds.issue_token(world.alice)
    assert new != old
    assert fetch(client, old).status_code == 404
    assert fetch(client, new).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["p_" + "A" * 43, "r_" + "A" * 43, "t_" + "A" * 43, "x_abc", "p_", "nothing", "a.b"],
)
def test_unknown_token_is_a_bare_404(world, client, token):
    feeds.issue_token(world.alice)
    response = fetch(client, token)
    assert response.status_code == 404
    assert response.content in (b"", b"Not found")
    assert response["Content-Type"].startswith("text/plain")


def test_token_of_one_kind_does_not_open_another(world, client):
    secret = feeds.issue_token(world.infra)
    assert fetch(client, secret).status_code == 200
    for kind in ("p", "r"):
        assert fetch(client, kind + secret[1:]).status_code == 404


def test_feed_refuses_writes(world, client):
    secret = feeds.issue_token(world.platform)
    assert client.post(f"/ical/{secret}.ics").status_code == 405


# What the feeds contain


def test_rotation_feed_has_one_event_per_final_shift(world, client):
    services.create_override(
        rotation=world.platform,
        person=world.carol,
        start=at("2025-03-12T08:00"),
        end=at("2025-03-13T08:00"),
    )
    events = read(fetch(client, feeds.issue_token(world.platform)))
    assert rows(events) == expected([world.platform])
    starts = by_start(events)
    first = min(starts)
    assert first == at("2025-01-06T08:00")  # 09:00 in Berlin, winter time
    assert starts[first]["summary"] == "On call: Platform — Alice"
    assert starts[first]["uid"] == (
        f"shift-r{world.platform.pk}-p{world.alice.pk}-20250106T080000Z@oncall.example.org"
    )
    assert starts[at("2025-03-31T07:00")]["summary"] == "On call: Platform — Alice"  # summer
    assert starts[at("2025-03-10T08:00")]["end"] == at("2025-03-12T08:00")
    override = starts[at("2025-03-12T08:00")]
    assert override["summary"] == f"On call: Platform — {world.carol.name} (override)"
    assert "Override: yes" in override["description"]
    assert "Team: Infra" in override["description"]
    assert starts[at("2025-03-13T08:00")]["end"] == at("2025-03-17T08:00")
    # Whole shifts to the one that covers now + 400 days, none after.
    last = max(starts)
    assert last <= NOW + timedelta(days=400) < starts[last]["end"]


def test_person_feed_has_their_final_shifts_across_rotations(world, client):
    # Bob takes a day of Alice's Platform week; Carol takes Alice's whole Database
    # fortnight from 03-12; Alice takes Carol's from 02-26.
    services.create_override(
        rotation=world.platform,
        person=world.bob,
        start=at("2025-03-05T08:00"),
        end=at("2025-03-06T08:00"),
    )
    services.create_override(
        rotation=world.database,
        person=world.carol,
        start=at("2025-03-12T00:00"),
        end=at("2025-03-26T00:00"),
    )
    services.create_override(
        rotation=world.database,
        person=world.alice,
        start=at("2025-02-26T00:00"),
        end=at("2025-03-12T00:00"),
    )
    events = read(fetch(client, feeds.issue_token(world.alice)))
    assert rows(events) == expected([world.platform, world.database, world.web], world.alice)
    assert {e["summary"].split(" — ")[0] for e in events} == {
        "On call: Platform",
        "On call: Database",
        "On call: Web",
    }
    assert all(e["summary"].split(" — ")[1].startswith("Alice") for e in events)
    starts = by_start(events)
    assert starts[at("2025-03-03T08:00")]["end"] == at("2025-03-05T08:00")
    assert starts[at("2025-03-06T08:00")]["end"] == at("2025-03-10T08:00")
    assert at("2025-03-05T08:00") not in starts
    assert starts[at("2025-02-26T00:00")]["summary"] == "On call: Database — Alice (override)"
    assert at("2025-03-12T00:00") not in starts  # her base shift, replaced by Carol's override
    assert starts[at("2025-04-09T00:00")]["summary"] == "On call: Database — Alice"

    # Bob is in Database only through an override: it is still in his feed.
    bob_events = read(fetch(client, feeds.issue_token(world.bob)))
    assert rows(bob_events) == expected([world.platform, world.database], world.bob)
    assert by_start(bob_events)[at("2025-03-05T08:00")]["summary"] == (
        "On call: Platform — Bob (override)"
    )


def test_team_feed_has_the_shifts_of_its_rotations(world, client):
    services.create_override(
        rotation=world.database,
        person=world.bob,
        start=at("2025-03-02T00:00"),
        end=at("2025-03-04T00:00"),
    )
    events = read(fetch(client, feeds.issue_token(world.infra)))
    assert rows(events) == expected([world.platform, world.database])
    assert not any(e["summary"].startswith("On call: Web") for e in events)
    web_events = read(fetch(client, feeds.issue_token(world.web_team)))
    assert rows(web_events) == expected([world.web])


def test_gaps_without_anyone_on_call_are_not_events(clock, client):
    dave = Person.objects.create(handle="dave", name="Dave")
    solo = services.create_rotation(
        slug="solo",
        name="Solo",
        team=None,
        spec=ScheduleSpec([dave], 7, time(0), "UTC"),
        start=date(2025, 2, 3),
    )
    dave.active = False
    dave.save()  # inactive from NOW: nobody is left for the rest of the schedule
    events = read(fetch(client, feeds.issue_token(solo)))
    assert rows(events) == expected([solo])
    assert [(e["start"], e["end"]) for e in events] == [
        (at("2025-02-03T00:00"), at("2025-02-10T00:00")),
        (at("2025-02-10T00:00"), at("2025-02-17T00:00")),
        (at("2025-02-17T00:00"), at("2025-02-24T00:00")),
        (at("2025-02-24T00:00"), NOW),
    ]
    assert "Team: none" in events[0]["description"]


def test_window_follows_the_days_back_and_ahead_settings(world, client, settings):
    settings.ONCALL_FEED_DAYS_BACK = 10
    settings.ONCALL_FEED_DAYS_AHEAD = 20
    events = read(fetch(client, feeds.issue_token(world.platform)))
    # Whole shifts overlapping 02-19 12:00 .. 03-21 12:00, not clipped to it.
    assert [e["start"] for e in events] == [
        at("2025-02-17T08:00"),
        at("2025-02-24T08:00"),
        at("2025-03-03T08:00"),
        at("2025-03-10T08:00"),
        at("2025-03-17T08:00"),
    ]
    assert events[-1]["end"] == at("2025-03-24T08:00")


def test_feed_is_a_published_calendar_of_transparent_events(world, client):
    response = fetch(client, feeds.issue_token(world.alice))
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    lines = response.content.decode().split("\r\n")
    for line in (
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:On call: Alice",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert line in lines
    assert any(line.startswith("PRODID:") for line in lines)
    events = read(response)
    assert events
    assert {e["transp"] for e in events} == {"TRANSPARENT"}
    # UTC times only, so no reader has to resolve a zone.
    assert not any(line.startswith(("DTSTART;", "DTEND;")) for line in lines)
    assert all(line.endswith("Z") for line in lines if line.startswith(("DTSTART", "DTEND")))


# Caching and identity


def test_etag_answers_if_none_match_with_304(world, client):
    secret = feeds.issue_token(world.platform)
    first = fetch(client, secret)
    etag = first["ETag"]
    assert etag.startswith('"')
    again = fetch(client, secret, if_none_match=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert fetch(client, secret, if_none_match=f'"other", W/{etag}').status_code == 304
    assert fetch(client, secret, if_none_match='"other"').status_code == 200
    services.create_override(
        rotation=world.platform,
        person=world.carol,
        start=at("2025-03-12T08:00"),
        end=at("2025-03-13T08:00"),
    )
    changed = fetch(client, secret, if_none_match=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_uid_is_stable_across_fetches_and_unrelated_overrides(world, client, clock):
    alice_secret = feeds.issue_token(world.alice)
    rotation_secret = feeds.issue_token(world.platform)
    before = fetch(client, rotation_secret)
    alice_before = fetch(client, alice_secret)
    clock.shift(timedelta(hours=1))
    # The same schedule an hour later is the same body (DTSTAMP is not the request time).
    assert fetch(client, rotation_secret).content == before.content
    assert fetch(client, alice_secret)["ETag"] == alice_before["ETag"]

    services.create_override(
        rotation=world.platform,
        person=world.carol,
        start=at("2025-03-12T08:00"),
        end=at("2025-03-13T08:00"),
    )
    after = by_start(read(fetch(client, rotation_secret)))
    for start, event in by_start(read(before)).items():
        if start != at("2025-03-10T08:00"):  # Bob's week the override cuts
            assert after[start] == event
    # Alice is not touched by the override: her feed does not change at all.
    assert fetch(client, alice_secret).content == alice_before.content


def test_sequence_grows_when_an_override_cuts_a_shift_and_when_it_is_deleted(world, client, clock):
    secret = feeds.issue_token(world.platform)
    cut_start, untouched_start = at("2025-03-10T08:00"), at("2025-03-03T08:00")
    before = by_start(read(fetch(client, secret)))
    assert before[cut_start]["last_modified"] == NOW

    t1 = NOW + timedelta(days=1)
    clock.move_to(t1)
    override = services.create_override(
        rotation=world.platform,
        person=world.carol,
        start=at("2025-03-12T08:00"),
        end=at("2025-03-13T08:00"),
    )
    cut = by_start(read(fetch(client, secret)))
    assert cut[cut_start]["uid"] == before[cut_start]["uid"]
    assert cut[cut_start]["end"] == at("2025-03-12T08:00")
    assert cut[cut_start]["sequence"] > before[cut_start]["sequence"]
    assert cut[cut_start]["last_modified"] == t1
    assert cut[untouched_start] == before[untouched_start]

    t2 = NOW + timedelta(days=2)
    clock.move_to(t2)
    services.delete_override(override)
    assert Override.objects.get(pk=override.pk).deleted_at == t2
    restored = by_start(read(fetch(client, secret)))
    assert restored[cut_start]["uid"] == before[cut_start]["uid"]
    assert restored[cut_start]["end"] == at("2025-03-17T08:00")
    assert restored[cut_start]["sequence"] > cut[cut_start]["sequence"]
    assert restored[cut_start]["last_modified"] == t2
    assert at("2025-03-12T08:00") not in restored
    assert at("2025-03-13T08:00") not in restored
    assert restored[untouched_start] == before[untouched_start]
    # Two days later the window has moved on: only shifts at its far end are new.
    assert set(before) <= set(restored)
    assert all(start > NOW + timedelta(days=400) for start in set(restored) - set(before))


# Queries


def _overrides(rotation: Rotation, people: list[Person], count: int) -> None:
    for i in range(count):
        start = at("2025-01-10T00:00") + timedelta(days=3 * i)
        services.create_override(
            rotation=rotation,
            person=people[i % len(people)],
            start=start,
            end=start + timedelta(days=1),
        )


@pytest.mark.parametrize("overrides", [3, 30])
def test_rotation_feed_queries_do_not_grow_with_overrides(
    world, client, django_assert_max_num_queries, overrides
):
    _overrides(world.platform, [world.carol, world.bob, world.alice], overrides)
    secret = feeds.issue_token(world.platform)
    with django_assert_max_num_queries(4):
        events = read(fetch(client, secret))
    assert sum("(override)" in e["summary"] for e in events) == overrides


@pytest.mark.parametrize("rotations", [1, 10])
def test_person_feed_queries_do_not_grow_with_rotations(
    world, client, django_assert_max_num_queries, rotations
):
    erin = Person.objects.create(handle="erin", name="Erin")
    for i in range(rotations):
        rotation = services.create_rotation(
            slug=f"r{i}",
            name=f"R{i}",
            team=world.infra,
            spec=ScheduleSpec([erin, world.bob], 7, time(9), "Europe/Berlin"),
            start=date(2025, 1, 6),
        )
        _overrides(rotation, [world.carol, erin], 4)
    secret = feeds.issue_token(erin)
    with django_assert_max_num_queries(5):
        events = read(fetch(client, secret))
    assert len({e["summary"] for e in events}) == 2 * rotations  # own shifts and overrides


@pytest.mark.parametrize("rotations", [1, 10])
def test_team_feed_queries_do_not_grow_with_rotations(
    clock, client, django_assert_max_num_queries, rotations
):
    team = Team.objects.create(slug="big", name="Big")
    people = [Person.objects.create(handle=f"p{i}", name=f"P{i}") for i in range(3)]
    for i in range(rotations):
        rotation = services.create_rotation(
            slug=f"r{i}",
            name=f"R{i}",
            team=team,
            spec=ScheduleSpec(people, 7, time(9), "Europe/Berlin"),
            start=date(2025, 1, 6),
        )
        _overrides(rotation, people, 4)
    secret = feeds.issue_token(team)
    with django_assert_max_num_queries(5):
        events = read(fetch(client, secret))
    assert len({e["summary"].split(" — ")[0] for e in events}) == rotations


# Two parsers


@pytest.fixture(scope="session")
def ical_js() -> Callable[[bytes], dict]:
    """Parse a feed with Mozilla's ical.js (Thunderbird's parser), installed by npm on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.fail(
            "test_feeds.py parses feeds with ical.js and needs Node.js: install `node` and "
            "`npm` (v18 or newer) on PATH.",
            pytrace=False,
        )
    if not (HERE / "node_modules" / "ical.js" / "package.json").exists():
        installed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode:
            pytest.fail(
                f"`npm install` of ical.js in {HERE} failed:\n{installed.stdout}{installed.stderr}",
                pytrace=False,
            )

    def parse(body: bytes) -> dict:
        result = subprocess.run(
            [node, str(HERE / "ical_parse.mjs")],
            input=body,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)

    return parse


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Whose feed: (rotations whose shifts it shows, person it is limited to).
FEEDS = {
    "alice": (["platform", "database", "web"], "alice"),
    "platform": (["platform"], None),
    "infra": (["platform", "database"], None),
}


@pytest.mark.parametrize("owner", FEEDS)
def test_icalendar_and_ical_js_read_the_same_events(world, client, ical_js, owner):
    services.create_override(
        rotation=world.platform,
        person=world.carol,
        start=at("2025-03-26T10:30"),
        end=at("2025-04-02T07:00"),
    )
    services.create_override(
        rotation=world.database,
        person=world.alice,
        start=at("2025-02-26T00:00"),
        end=at("2025-03-12T00:00"),
    )
    deleted = services.create_override(
        rotation=world.platform,
        person=world.bob,
        start=at("2025-03-04T00:00"),
        end=at("2025-03-05T00:00"),
    )
    services.delete_override(deleted)
    rotations, person = FEEDS[owner]
    response = fetch(client, feeds.issue_token(getattr(world, owner)))
    schedule = [
        (uid, _iso(start), _iso(end), summary)
        for uid, start, end, summary in expected(
            [getattr(world, slug) for slug in rotations], person and getattr(world, person)
        )
    ]

    by_icalendar = read(response)
    parsed = ical_js(response.content)
    by_ical_js = parsed["events"]

    assert len(schedule) > 10
    assert (
        sorted((e["uid"], _iso(e["start"]), _iso(e["end"]), e["summary"]) for e in by_icalendar)
        == schedule
    )
    assert sorted((e["uid"], e["start"], e["end"], e["summary"]) for e in by_ical_js) == schedule
    assert {e["uid"]: e["sequence"] for e in by_ical_js} == {
        e["uid"]: e["sequence"] for e in by_icalendar
    }
    assert {e["start_zone"] for e in by_ical_js} | {e["end_zone"] for e in by_ical_js} == {"UTC"}
    assert {e["transp"] for e in by_ical_js} == {"TRANSPARENT"}
    assert any(world.carol.name in summary for *_, summary in schedule) == (owner != "alice")
    assert parsed["calendar"] == {
        "name": Calendar.from_ical(response.content)["X-WR-CALNAME"],
        "method": "PUBLISH",
        "refresh": "PT1H",
    }
