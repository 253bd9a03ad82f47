"""The Synapse harness itself: a real homeserver doing what the Matrix channel relies on."""

from __future__ import annotations

import time

import pytest

from tests.matrix.synapse import MatrixError, MatrixUser, Synapse


@pytest.fixture
def alice(synapse: Synapse) -> MatrixUser:
    return synapse.register("alice")


@pytest.fixture
def bob(synapse: Synapse) -> MatrixUser:
    return synapse.register("bob")


def test_registered_user_is_logged_in_and_registering_again_returns_the_same_user(synapse):
    alice = synapse.register("alice")

    assert alice.user_id == "@alice:oncall.test"
    assert alice.client("GET", "/account/whoami")["user_id"] == alice.user_id
    assert synapse.register("alice") is alice
    assert synapse.url == f"http://127.0.0.1:{synapse.port}"
    assert synapse.server_name == "oncall.test"
    assert (synapse.dir / "signing.key").read_text().startswith("ed25519 ")


def test_invited_user_joins_a_private_room_and_receives_a_message(alice, bob):
    room = alice.create_room("ops", invite=[bob.user_id])
    with pytest.raises(MatrixError) as before_join:
        bob.messages(room)
    assert before_join.value.status == 403

    assert bob.join(room) == room
    event_id = alice.send_text(room, "INC-1 disk full")

    seen = bob.wait_for(room, lambda e: e["content"].get("body") == "INC-1 disk full")
    assert seen["event_id"] == event_id
    assert seen["sender"] == alice.user_id
    assert bob.event(room, event_id)["content"] == {"msgtype": "m.text", "body": "INC-1 disk full"}


def test_later_invite_lets_a_user_join_and_a_public_room_needs_none(alice, bob, synapse):
    private = alice.create_room("later")
    with pytest.raises(MatrixError) as uninvited:
        bob.join(private)
    assert uninvited.value.status == 403
    alice.invite(private, bob.user_id)
    assert bob.join(private) == private

    public = alice.create_room("open", public=True)
    carol = synapse.register("carol")
    assert carol.join(public) == public


def test_reaction_is_listed_in_relations_until_it_is_redacted(alice, bob):
    room = alice.create_room("reactions", invite=[bob.user_id])
    bob.join(room)
    message = alice.send_text(room, "INC-2 who takes it?")

    reaction = bob.react(room, message, "👍")

    relations = alice.relations(room, message, "m.annotation")
    assert [(e["event_id"], e["sender"]) for e in relations] == [(reaction, bob.user_id)]
    assert relations[0]["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": message,
        "key": "👍",
    }
    with pytest.raises(MatrixError) as twice:
        bob.react(room, message, "👍")
    assert twice.value.errcode == "M_DUPLICATE_ANNOTATION"

    redaction = bob.redact(room, reaction)

    assert alice.relations(room, message) == []
    redacted = alice.event(room, reaction)
    assert redacted["content"] == {}
    assert redacted["unsigned"]["redacted_by"] == redaction
    assert alice.wait_for(room, lambda e: e.get("redacts") == reaction)["sender"] == bob.user_id


def test_topic_is_empty_until_set_and_a_member_needs_power_to_set_it(alice, bob):
    room = alice.create_room("topics", invite=[bob.user_id])
    bob.join(room)
    assert bob.topic(room) == ""

    alice.set_topic(room, "on call: alice")
    assert bob.topic(room) == "on call: alice"
    with pytest.raises(MatrixError) as no_power:
        bob.set_topic(room, "on call: bob")
    assert no_power.value.status == 403

    powered = alice.create_room("bot room", invite=[bob.user_id], topic="quiet",
                                power_levels={bob.user_id: 50})  # fmt: skip
    bob.join(powered)
    assert bob.topic(powered) == "quiet"
    bob.set_topic(powered, "INC-3 open")
    assert alice.topic(powered) == "INC-3 open"


def test_ordinary_users_are_not_held_back_by_rate_limits(alice):
    # Synapse's defaults allow bursts of 10 messages and 10 rooms, then about one a minute.
    rooms = [alice.create_room(f"room {n}") for n in range(12)]
    for n in range(30):
        alice.send_text(rooms[0], f"message {n}")

    assert alice.wait_for(rooms[0], lambda e: e["content"].get("body") == "message 29")


def test_wait_for_fails_listing_the_last_events(alice):
    room = alice.create_room("silent")
    alice.send_text(room, "nothing to see")

    with pytest.raises(AssertionError, match="nothing to see"):
        alice.wait_for(room, lambda e: False, timeout=0.5)


def test_ratelimit_override_makes_synapse_answer_429_with_retry_after(synapse, alice):
    limited = synapse.register("rate-limited")
    room = alice.create_room("flood", invite=[limited.user_id])
    limited.join(room)

    synapse.override_ratelimit(limited.user_id, messages_per_second=1, burst_count=1)
    try:
        with pytest.raises(MatrixError) as throttled:
            for n in range(10):
                limited.send_text(room, f"flood {n}")
    finally:
        synapse.reset_ratelimit(limited.user_id)

    error = throttled.value
    assert error.status == 429
    assert error.errcode == "M_LIMIT_EXCEEDED"
    assert 0 < error.body["retry_after_ms"] <= 1000
    assert int(error.headers["Retry-After"]) >= 1  # whole seconds, rounded up

    time.sleep(error.body["retry_after_ms"] / 1000)
    assert limited.send_text(room, "back to normal").startswith("$")
