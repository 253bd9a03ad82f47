"""The room always says who owns a failure, against a real Synapse: the incident
message names the responsible people even when only the room is paged, and the room
topic (who is on call, the workflow, the team's mail) is set as soon as a room is
configured, when the bot joins, and by the beat task."""

from __future__ import annotations

import pytest

from escalation.channels.matrix import tasks
from escalation.channels.matrix.channel import client
from escalation.chatops.listener import Listener
from escalation.models import EscalationPolicy
from escalation.services import lifecycle
from tests.matrix.chatops import open_incident, root_of
from tests.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOW = "https://docs.example.org/runbooks/flavors"


def room_only(team) -> None:
    """The repo's policy posts in the room and pages nobody."""
    EscalationPolicy.objects.filter(pk=team.repo.policy_id).update(
        steps=[{"wait_seconds": 0, "notify": [{"type": "matrix_room", "room": team.room}]}]
    )


def message(accounts, team, incident) -> dict:
    return accounts["alice"].event(team.room, root_of(incident).event_id)["content"]


def test_room_only_step_names_the_oncall_person_and_backup_without_pinging_them(team, accounts):
    alice, bob = accounts["alice"].user_id, accounts["bob"].user_id
    room_only(team)
    content = message(accounts, team, open_incident())
    assert f"Responsible: Alice ({alice}) · backup: Bob ({bob})" in content["body"]
    assert f'<a href="https://matrix.to/#/{alice}">Alice</a>' in content["formatted_body"]
    assert f'<a href="https://matrix.to/#/{bob}">Bob</a>' in content["formatted_body"]
    assert content["m.mentions"] == {"user_ids": []}  # named, not paged: nobody pinged


def test_paged_person_is_pinged_and_the_backup_only_named(team, accounts):
    content = message(accounts, team, open_incident())
    assert "· backup: Bob" in content["body"]
    assert content["m.mentions"] == {"user_ids": [accounts["alice"].user_id]}


def test_failure_without_an_owner_says_so_with_the_coverage_link(team, accounts):
    room_only(team)
    team.repo.rotation = None
    team.repo.save()
    content = message(accounts, team, open_incident())
    assert (
        "No one is responsible for this repo — `!cover`, or see "
        "https://oncall.example.org/coverage/" in content["body"]
    )
    assert '<a href="https://oncall.example.org/coverage/">' in content["formatted_body"]
    assert "Responsible:" not in content["body"]


def topic_of(team, accounts, room=None) -> str:
    return accounts["alice"].topic(room or team.room)


def expected(accounts, mail: str = "") -> str:
    alice = accounts["alice"].user_id
    text = f"On call: Alice ({alice}) until Mon 07 Dec 09:00 UTC · workflow: {WORKFLOW}"
    return f"{text} · mail: {mail}" if mail else text


def new_room(accounts, *, bot_joins: bool = True) -> str:
    alice, bot = accounts["alice"], accounts["oncallbot"]
    room = alice.create_room(name="standards", invite=[bot.user_id], power_levels={bot.user_id: 50})
    if bot_joins:
        bot.join(room)
    return room


def test_a_room_set_on_a_repo_gets_its_topic_at_once(team, accounts):
    team.repo.team.email = "infra@example.org"
    team.repo.team.save()
    room = new_room(accounts)
    team.repo.matrix_room = room
    team.repo.save()  # as the admin, the API or the config file would
    assert topic_of(team, accounts, room) == expected(accounts, "infra@example.org")


def test_a_team_mail_change_shows_in_the_topic_keeping_the_teams_text(team, accounts):
    accounts["alice"].set_topic(team.room, "Infra chat")
    team.repo.team.email = "infra-list@example.org"
    team.repo.team.save()
    assert topic_of(team, accounts) == "Infra chat | " + expected(
        accounts, "infra-list@example.org"
    )


def test_a_room_configured_before_the_bot_was_there_gets_its_topic_within_one_reconcile(
    team, accounts
):
    room = new_room(accounts, bot_joins=False)
    team.repo.matrix_room = room
    team.repo.save()  # the bot is not in the room yet: the topic cannot be set
    assert topic_of(team, accounts, room) == ""
    accounts["oncallbot"].join(room)
    assert tasks.matrix_topics() >= 1  # one run of the beat task
    assert topic_of(team, accounts, room) == expected(accounts)


def test_the_listener_sets_the_topic_when_it_joins_a_configured_room(team, accounts):
    listener = Listener(client(), timeout_ms=1000)
    listener.run_once()  # the first start takes the current position
    room = new_room(accounts, bot_joins=False)
    team.repo.matrix_room = room
    team.repo.save()
    # One /sync round at a time until the invite came (a busy homeserver may need a few).
    wait_until(
        lambda: listener.run_once() is not None and topic_of(team, accounts, room), 60, "a topic"
    )
    assert topic_of(team, accounts, room) == expected(accounts)


def test_resolved_message_no_longer_names_owners(team, accounts):
    room_only(team)
    incident = open_incident()
    lifecycle.resolve(incident, team.alice, "api")  # edited in at once
    edits = accounts["alice"].relations(team.room, root_of(incident).event_id, "m.replace")
    latest = max(edits, key=lambda e: e["origin_server_ts"])["content"]["m.new_content"]
    assert "Resolved by Alice" in latest["body"]
    assert "Responsible:" not in latest["body"]
