"""Swaps from the room against the real Synapse: ``!swap`` → the request message →
a ✅ reaction takes it; ``!cover @who 2w`` by a team lead puts them on call at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from rotations import swap_services
from rotations.models import Override, Swap, SwapMessage
from tests.matrix.chatops import sync

pytestmark = pytest.mark.django_db(transaction=True)


def said(user, room, bot, text):
    return user.wait_for(
        room, lambda e: e["sender"] == bot.user_id and text in e["content"].get("body", "")
    )


def test_swap_asked_in_the_room_is_taken_with_a_reaction(team, accounts, listener, bot):
    alice, bob = accounts["alice"], accounts["bob"]
    command = alice.send_text(team.room, "!swap 2026-12-22..2026-12-24")
    sync(listener, alice, team.room, command)
    swap = Swap.objects.get()
    # whole handoff days at the rotation's handoff time (09:00 UTC)
    assert (swap.requester, swap.state) == (team.alice, "open")
    assert (swap.start, swap.end) == (
        datetime(2026, 12, 22, 9, tzinfo=UTC),
        datetime(2026, 12, 24, 9, tzinfo=UTC),
    )
    asked = said(bob, team.room, bot, f"#{swap.pk}: Alice")
    assert f"!take {swap.pk}" in asked["content"]["body"]
    assert SwapMessage.objects.get(swap=swap).event_id == asked["event_id"]
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]  # the other member

    reaction = bob.react(team.room, asked["event_id"], "✅")
    sync(listener, bob, team.room, reaction)
    swap.refresh_from_db()
    assert (swap.state, swap.taken_by) == ("taken", team.bob)
    override = Override.objects.get(swap=swap)
    assert (override.person, override.start, override.end) == (team.bob, swap.start, swap.end)
    taken = said(alice, team.room, bot, f"#{swap.pk}: Bob")
    assert taken["content"]["m.mentions"] == {"user_ids": [alice.user_id]}
    assert sorted(m.to[0] for m in mail.outbox[1:]) == ["alice@example.org", "bob@example.org"]


def test_cover_by_a_lead_is_at_once_by_others_an_offer(team, accounts, listener, bot):
    alice, bob = accounts["alice"], accounts["bob"]
    offer = bob.send_text(team.room, f"!cover {alice.user_id} 1d infra")
    sync(listener, bob, team.room, offer)
    # bob is no lead: alice is asked, not put on call
    offered = Swap.objects.get()
    assert (offered.state, offered.offered_to, offered.override) == ("open", team.alice, None)
    assert "to cover Infra" in said(alice, team.room, bot, f"#{offered.pk}: Bob")["content"]["body"]
    swap_services.cancel(offered, by=team.alice)  # she declines

    team.rotation.team.leads.add(team.alice)
    command = alice.send_text(team.room, f"!cover {bob.user_id} 2w")
    sync(listener, alice, team.room, command)
    swap = Swap.objects.exclude(pk=offered.pk).get()
    assert (swap.kind, swap.state, swap.taken_by, swap.approved_by) == (
        "cover",
        "approved",
        team.bob,
        team.alice,
    )
    assert swap.end - swap.start == timedelta(weeks=2)
    assert Override.objects.get(swap=swap).person == team.bob
    said(alice, team.room, bot, f"#{swap.pk}: Bob")
