"""The swap commands of the room (``!swap``, ``!take``, ``!cover``), in process: parsing,
dates at the handoff time, and the refusals people read. The room round trip on the real
Synapse is tests/matrix/test_swaps.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from escalation.chatops import swaps
from rotations import services
from rotations.models import Override, Person, Swap

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people():
    return {
        h: Person.objects.create(handle=h, name=h.title(), matrix_id=f"@{h}:example.org")
        for h in ("alice", "bob", "dave")
    }


@pytest.fixture
def rotation(people):
    # weekly from Thursday 2026-12-03 09:00 New York (14:00 UTC): alice, bob, alice, …
    spec = services.ScheduleSpec([people["alice"], people["bob"]], 7, time(9), "America/New_York")
    return services.create_rotation(
        slug="core", name="Core", team=None, spec=spec, start=date(2026, 12, 3)
    )


def test_swap_dates_are_handoff_days_in_the_rotations_zone(rotation, people):
    done, text = swaps.run("!room", people["alice"], "swap", ["2026-12-17..2026-12-24", "core"])
    assert done, text
    swap = Swap.objects.get()
    assert (swap.start, swap.end) == (
        datetime(2026, 12, 17, 14, tzinfo=UTC),
        datetime(2026, 12, 24, 14, tzinfo=UTC),
    )
    assert text == f"#{swap.pk} asked; the others can take it."


def test_swap_refusals_say_why(rotation, people):
    alice = people["alice"]
    assert swaps.run("!room", alice, "swap", ["next", "core"]) == (False, swaps.USAGE["swap"])
    assert swaps.run("!room", alice, "swap", ["2026-13-01..2026-13-02", "core"])[0] is False
    done, text = swaps.run("!room", alice, "swap", ["2026-12-10..2026-12-11", "core"])
    assert not done and "not on call for core throughout" in text  # bob's week
    assert swaps.run("!room", alice, "swap", ["2026-12-17..2026-12-18", "nope"]) == (
        False,
        "No rotation 'nope'.",
    )


def test_take_by_number(rotation, people):
    swaps.run("!room", people["alice"], "swap", ["2026-12-17..2026-12-18", "core"])
    swap = Swap.objects.get()
    assert swaps.run("!room", people["bob"], "take", ["x"]) == (False, swaps.USAGE["take"])
    assert swaps.run("!room", people["bob"], "take", ["999"]) == (False, "There is no swap #999.")
    done, text = swaps.run("!room", people["dave"], "take", [str(swap.pk)])
    assert not done and "Only members of core" in text
    assert swaps.run("!room", people["bob"], "take", [f"#{swap.pk}"]) == (
        True,
        f"#{swap.pk} taken.",
    )
    assert Override.objects.get(swap=swap).person == people["bob"]


def test_cover_durations_from_now(rotation, people):
    assert swaps.run("!room", people["bob"], "cover", ["soon", "core"]) == (
        False,
        swaps.USAGE["cover"],
    )
    assert swaps.run("!room", people["bob"], "cover", ["400d", "core"])[0] is False
    assert swaps.run("!room", people["bob"], "cover", ["@zed:example.org", "2w", "core"]) == (
        False,
        "@zed:example.org is not a known person here.",
    )
    done, text = swaps.run("!room", people["bob"], "cover", ["3d", "core"])
    assert done, text
    swap = Swap.objects.get()
    assert (swap.taken_by, swap.start, swap.end) == (people["bob"], NOW, NOW + timedelta(days=3))
    assert text == f"#{swap.pk} done."
