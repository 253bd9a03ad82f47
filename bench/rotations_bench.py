"""Rotation read paths against a real database: ICS feeds and on-call lookups.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/rotations_bench.py

Creates its own database (``oncall_bench`` under the configured server, migrated),
fills it, times each case and drops the database again. It prints median times and,
for feeds, the ratio to merely serialising the same events with ``icalendar`` (the
library floor: everything above it is our loading, scheduling and HTTP work).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from common import ROOT, bench_database, print_table  # bench/common.py

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

import django  # noqa: E402

django.setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from icalendar import Calendar, Event, vDuration  # noqa: E402

from rotations import feeds, selectors, services, views  # noqa: E402
from rotations.models import Person, Rotation, RotationMember, RotationVersion  # noqa: E402
from rotations.services import ScheduleSpec  # noqa: E402

DATABASE = "oncall_bench"


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm caches (zoneinfo, prepared paths) once
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def floor(events: list[Event]) -> Callable[[], bytes]:
    """Serialise events with the same properties as a feed, from ready-made values."""
    values = [
        {
            name: event.decoded(name)
            for name in (
                "uid",
                "dtstamp",
                "last-modified",
                "sequence",
                "dtstart",
                "dtend",
                "summary",
                "description",
            )
        }
        for event in events
    ]

    def run() -> bytes:
        cal = Calendar()
        cal.add("prodid", feeds.PRODID)
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", "PUBLISH")
        cal.add("x-wr-calname", "On call")
        cal.add("refresh-interval", feeds.REFRESH, parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", vDuration(feeds.REFRESH))
        for item in values:
            event = Event()
            for name, value in item.items():
                event.add(name, value.decode() if isinstance(value, bytes) else value)
            event.add("transp", "TRANSPARENT")
            cal.add_component(event)
        return bytes(cal.to_ical())

    return run


def rotation(slug: str, members: list[Person], shift_days: int, start: date) -> Rotation:
    return services.create_rotation(
        slug=slug,
        name=slug.replace("-", " ").title(),
        team=None,
        start=start,
        spec=ScheduleSpec(members, shift_days, clock(9), "Europe/Berlin"),
    )


def feed_case(label: str, secret: str, repeat: int) -> list[list[str]]:
    """Rows for a feed: rendered (cache emptied each time), cached body, and a 304."""
    request = RequestFactory().get(f"/ical/{secret}.ics")
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = feeds.feed(request, secret)
    events = Calendar.from_ical(response.content).events
    floor_ms = median_ms(floor(events), repeat)

    def cold() -> object:
        cache.clear()
        return feeds.feed(request, secret)

    revalidate = RequestFactory().get(f"/ical/{secret}.ics", HTTP_IF_NONE_MATCH=response["ETag"])
    assert feeds.feed(revalidate, secret).status_code == 304
    rows = []
    for how, run in (
        ("rendered", cold),
        ("cached body", lambda: feeds.feed(request, secret)),
        ("304 revalidation", lambda: feeds.feed(revalidate, secret)),
    ):
        ms = median_ms(run, repeat)
        rows.append(
            [
                f"{label}, {how}",
                str(len(events)),
                str(len(queries)),
                f"{ms:.2f}",
                f"{floor_ms:.2f}",
                f"{ms / floor_ms:.2f}x",
            ]
        )
    return rows


def person_in_20_rotations(today: date) -> str:
    people = [Person.objects.create(handle=f"p{i}", name=f"Person {i}") for i in range(60)]
    me = Person.objects.create(handle="me", name="Pat Example")
    for i in range(20):
        members = [me, *people[3 * i : 3 * i + 3]]
        r = rotation(f"team-{i}", members, 7 + i % 3 * 7, today - timedelta(days=90 + i))
        for k in range(6):  # overrides on both sides: some cut Pat's shifts, some are Pat's
            start = datetime.combine(today, clock(8), tzinfo=UTC) + timedelta(days=11 * k + i)
            services.create_override(
                rotation=r,
                person=me if k % 2 else people[3 * i],
                start=start,
                end=start + timedelta(days=1),
            )
    return feeds.issue_token(me)


def rotation_with_15_events(today: date) -> str:
    people = [Person.objects.create(handle=f"q{i}", name=f"Quinn {i}") for i in range(4)]
    # Four-week shifts from 10 days ago: 15 of them overlap the 460-day window.
    r = rotation("monthly", people, 28, today - timedelta(days=10))
    return feeds.issue_token(r)


def thousand_rotations(today: date) -> None:
    people = [Person.objects.create(handle=f"m{i}", name=f"Member {i}") for i in range(50)]
    rotations = Rotation.objects.bulk_create(
        Rotation(slug=f"bulk-{i}", name=f"Bulk {i}") for i in range(1000)
    )
    versions = RotationVersion.objects.bulk_create(
        RotationVersion(
            rotation=r,
            effective_from=today - timedelta(days=i % 40),
            shift_days=7 + i % 3 * 7,
            handoff_time=clock(9),
            timezone="Europe/Berlin",
        )
        for i, r in enumerate(rotations)
    )
    RotationMember.objects.bulk_create(
        RotationMember(version=v, person=people[(i + k) % len(people)], position=k)
        for i, v in enumerate(versions)
        for k in range(3)
    )


def main() -> None:
    now = datetime.now(UTC)
    today = now.date()
    person_secret = person_in_20_rotations(today)
    rotation_secret = rotation_with_15_events(today)
    thousand_rotations(today)
    bulk = Rotation.objects.filter(slug__startswith="bulk-")

    table = [["case", "events", "queries", "median ms", "icalendar ms", "ratio"]]
    table.extend(feed_case("person feed, 20 rotations", person_secret, 30))
    table.extend(feed_case("rotation feed", rotation_secret, 100))

    # One lookup as GET /api/v1/oncall/?rotation=SLUG does it, for each of 1,000 rotations.
    slugs = list(bulk.values_list("slug", flat=True))
    samples = []
    for slug in slugs:
        started = time.perf_counter()
        views.rotation_oncall(slug, now)
        samples.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        views.rotation_oncall(slugs[0], now)
    table.append(
        [
            "on-call lookup by slug (median of 1,000)",
            "",
            str(len(queries)),
            f"{statistics.median(samples) * 1000:.2f}",
            "",
            "",
        ]
    )

    def batched() -> None:
        for item in selectors.load(bulk, (now, now)):
            item.oncall(now)

    def one_by_one() -> None:
        for r in bulk:
            selectors.load_one(r, (now, now)).oncall(now)

    with CaptureQueriesContext(connection) as queries:
        batched()
    table.append(
        [
            "on-call, 1,000 rotations, one load()",
            "",
            str(len(queries)),
            f"{median_ms(batched, 10):.2f}",
            "",
            "",
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        one_by_one()
    table.append(
        [
            "on-call, 1,000 rotations, load_one() each",
            "",
            str(len(queries)),
            f"{median_ms(one_by_one, 3):.2f}",
            "",
            "",
        ]
    )

    print_table(table)
    print(
        f"\nPython {sys.version.split()[0]}, {connection.vendor}, window "
        f"{feeds.window(now)[0]:%Y-%m-%d} .. {feeds.window(now)[1]:%Y-%m-%d}"
    )


if __name__ == "__main__":
    with bench_database(DATABASE):
        main()
