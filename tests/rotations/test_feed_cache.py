"""Rendered feeds are cached under the schedule generation: a cached answer is one query,
and swaps, overrides, active windows and the passing of time are seen at once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.conf import settings

from rotations import feeds, services, swap_services, windows
from rotations.services import ScheduleSpec
from tests.rotations import test_feeds
from tests.rotations.test_feeds import fetch, read

# The world of tests/rotations/test_feeds.py, its clock at NOW and its base URL.
world, clock, _base_url = test_feeds.world, test_feeds.clock, test_feeds._base_url

pytestmark = pytest.mark.django_db


def test_a_cached_feed_is_one_query_and_the_same_bytes(world, client, django_assert_num_queries):
    secret = feeds.issue_token(world.alice)
    first = fetch(client, secret)
    with django_assert_num_queries(1):  # the owner, with the schedule generation
        again = fetch(client, secret)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    with django_assert_num_queries(1):
        assert fetch(client, secret, if_none_match=first["ETag"]).status_code == 304


def test_a_swap_shows_in_both_feeds_at_once(world, client):
    alice, bob = feeds.issue_token(world.alice), feeds.issue_token(world.bob)
    start = datetime(2025, 3, 4, 8, tzinfo=UTC)  # in Alice's week on Platform
    before = [read(fetch(client, s)) for s in (alice, bob)]
    swap = swap_services.request(
        rotation=world.platform, requester=world.alice, start=start, end=start + timedelta(days=1)
    )
    swap_services.take(swap, by=world.bob)
    mine, theirs = read(fetch(client, alice)), read(fetch(client, bob))
    assert len(mine) == len(before[0]) + 1  # her week is cut in two around the swap
    covered = [e for e in theirs if e["start"] == start]
    assert covered and "(override)" in covered[0]["summary"]
    assert len(theirs) == len(before[1]) + 1


def test_an_override_deleted_dates_the_shift_again(world, client):
    secret = feeds.issue_token(world.platform)
    start = datetime(2025, 3, 5, 8, tzinfo=UTC)
    override = services.create_override(
        rotation=world.platform, person=world.bob, start=start, end=start + timedelta(hours=8)
    )
    assert any(e["start"] == start for e in read(fetch(client, secret)))
    services.delete_override(override)
    events = read(fetch(client, secret))
    assert not any(e["start"] == start for e in events)


def test_active_windows_cut_the_cached_feed_at_once(world, client):
    secret = feeds.issue_token(world.web)
    whole = read(fetch(client, secret))
    spec = ScheduleSpec(
        [world.alice],
        28,
        time(12),
        "America/New_York",
        windows=windows.parse([{"days": ["mon", "tue"], "start": "09:00", "end": "17:00"}]),
    )
    services.edit_schedule(world.web, spec, None)
    pieces = read(fetch(client, secret))
    assert len(pieces) > len(whole)
    assert all(e["end"] - e["start"] <= timedelta(hours=8) for e in pieces[-5:])


def test_a_cached_feed_follows_the_window_as_time_passes(world, client, clock):
    secret = feeds.issue_token(world.platform)
    first = read(fetch(client, secret))
    oldest = first[0]
    # The moment the oldest shift leaves the window: the cached body is not served.
    clock.move_to(oldest["end"] + timedelta(days=settings.ONCALL_FEED_DAYS_BACK))
    later = read(fetch(client, secret))
    assert oldest["uid"] not in {e["uid"] for e in later}
    # A shift that enters at the far end shows as soon as it does.
    newest = later[-1]
    clock.move_to(
        newest["start"]
        + timedelta(days=7)
        - timedelta(days=settings.ONCALL_FEED_DAYS_AHEAD)
        + timedelta(seconds=1)
    )
    assert read(fetch(client, secret))[-1]["start"] == newest["start"] + timedelta(days=7)


def test_going_back_in_time_is_not_answered_from_a_later_body(world, client):
    secret = feeds.issue_token(world.platform)
    now = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with time_machine.travel(now + timedelta(days=30), tick=False):
        later = fetch(client, secret).content
    assert fetch(client, secret).content != later  # the clock fixture's NOW again
