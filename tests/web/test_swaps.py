"""Swaps on the rotation page, and who may put whom on call with the override form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from rotations import swap_services
from rotations.models import Override, Swap
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# core-ops: carol until 7 Dec 09:00 Berlin, then alice until 21 Dec, then bob
ALICE = (datetime(2026, 12, 7, 8, tzinfo=UTC), datetime(2026, 12, 21, 8, tzinfo=UTC))
COVER = {"start": "2026-12-01T09:00", "end": "2026-12-03T09:00", "reason": "x"}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def login(handle: str) -> Client:
    user = get_user_model().objects.create_user(handle, f"{handle}@example.org", PASSWORD)
    client = Client()
    client.force_login(user)
    return client


def test_ask_for_cover_on_my_shift_then_bob_takes_it_with_the_button(alice_client, world):
    page = alice_client.get("/rotations/core-ops/").content.decode()
    # the button on alice's coming shift posts its local start and end (Berlin)
    buttons = re.findall(
        r'name="start" value="([^"]+)"><input type="hidden" name="end" value="([^"]+)">'
        r'<button type="submit">Ask for cover',
        page,
    )
    assert buttons[0] == ("2026-12-07T09:00", "2026-12-21T09:00")
    asked = alice_client.post(
        "/rotations/core-ops/swaps/",
        {"start": buttons[0][0], "end": buttons[0][1], "note": "dentist"},
    )
    assert asked.status_code == 302 and asked["Location"].endswith("#swaps")
    swap = Swap.objects.get()
    assert (swap.requester, swap.start, swap.end, swap.note) == (
        world.alice,
        *ALICE,
        "dentist",
    )
    assert alice_client.get("/rotations/core-ops/swaps/").status_code == 405  # POST only

    bob = login("bob")
    page = bob.get("/rotations/core-ops/").content.decode()
    take = f"/rotations/core-ops/swaps/{swap.pk}/take/"
    assert take in page
    assert take not in alice_client.get("/rotations/core-ops/").content.decode()
    assert bob.post(take).status_code == 302
    swap.refresh_from_db()
    assert (swap.state, swap.taken_by) == ("taken", world.bob)
    assert Override.objects.get(swap=swap).person == world.bob

    undo = f"/rotations/core-ops/swaps/{swap.pk}/cancel/"
    assert undo in bob.get("/rotations/core-ops/").content.decode()
    bob.post(undo)
    swap.refresh_from_db()
    assert swap.state == "cancelled"
    assert Override.objects.get(swap__pk=swap.pk).deleted_at is not None


def test_asking_for_someone_elses_shift_says_why(alice_client, world):
    response = alice_client.post(
        "/rotations/core-ops/swaps/",
        {"start": "2026-11-27T09:00", "end": "2026-11-28T09:00"},
        follow=True,
    )
    assert "not on call for core-ops throughout" in response.content.decode()
    assert not Swap.objects.exists()


def test_a_lead_approves_from_the_page(alice_client, world):
    world.team.swap_approval = True
    world.team.save()
    world.team.leads.add(world.carol)
    swap = swap_services.request(
        rotation=world.rotation, requester=world.alice, start=ALICE[0], end=ALICE[1]
    )
    swap_services.take(swap, by=world.bob)
    approve = f"/rotations/core-ops/swaps/{swap.pk}/approve/"
    assert approve not in alice_client.get("/rotations/core-ops/").content.decode()
    alice_client.post(approve)
    swap.refresh_from_db()
    assert swap.state == "taken"
    carol = login("carol")
    assert approve in carol.get("/rotations/core-ops/").content.decode()
    carol.post(approve)
    swap.refresh_from_db()
    assert (swap.state, swap.approved_by) == ("approved", world.carol)


def test_only_oneself_or_a_team_lead_puts_someone_on_call(alice_client, world):
    refused = alice_client.post("/rotations/core-ops/overrides/", {"person": "bob", **COVER})
    assert refused.status_code == 403
    assert not Override.objects.exists()
    own = alice_client.post("/rotations/core-ops/overrides/", {"person": "alice", **COVER})
    assert own.status_code == 302
    world.team.leads.add(world.alice)
    choices = alice_client.get("/rotations/core-ops/").context["form"].fields["person"].queryset
    assert set(choices) == {world.alice, world.bob, world.carol}
    led = alice_client.post(
        "/rotations/core-ops/overrides/",
        {"person": "bob", **COVER, "start": "2026-12-04T09:00", "end": "2026-12-05T09:00"},
    )
    assert led.status_code == 302
    assert Override.objects.filter(person=world.bob).exists()


def test_swap_actions_need_the_csrf_token(world):
    swap = swap_services.request(
        rotation=world.rotation, requester=world.alice, start=ALICE[0], end=ALICE[1]
    )
    user = get_user_model().objects.create_user("bob", "bob@example.org", PASSWORD)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"/rotations/core-ops/swaps/{swap.pk}/take/").status_code == 403
    assert strict.post("/rotations/core-ops/swaps/", {"start": "x"}).status_code == 403
    swap.refresh_from_db()
    assert swap.state == "open"
