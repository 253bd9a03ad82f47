"""Matrix chat-ops against a real Synapse: the incident message, edits, thread replies,
reactions, redactions, commands, the topic, restarts and rate limits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from escalation.channels.matrix.channel import client
from escalation.chatops.listener import Listener
from escalation.models import Incident, MatrixEvent, MatrixMessage, MatrixSync, TimelineEntry
from escalation.services import ingestion, lifecycle
from rotations import notices
from tests.matrix.chatops import body, open_incident, report, root_of, sync, work

pytestmark = pytest.mark.django_db(transaction=True)


def bot_messages(user, room, bot_id):
    """The bot's messages that are not edits."""
    return [
        e
        for e in user.messages(room)
        if e["sender"] == bot_id
        and e["type"] == "m.room.message"
        and e["content"].get("m.relates_to", {}).get("rel_type") != "m.replace"
    ]


def thread_replies(user, room, root_id):
    return [
        e
        for e in user.messages(room)
        if e["content"].get("m.relates_to", {}).get("rel_type") == "m.thread"
        and e["content"]["m.relates_to"].get("event_id") == root_id
    ]


def latest_edit(user, room, root_id):
    edits = user.relations(room, root_id, "m.replace")
    return max(edits, key=lambda e: e["origin_server_ts"]) if edits else None


def test_incident_message_arrives_with_the_mention_links_and_workflow(team, accounts):
    alice = accounts["alice"]
    incident = open_incident()
    root = root_of(incident)
    event = alice.event(team.room, root.event_id)
    content = event["content"]
    assert content["m.mentions"] == {"user_ids": [alice.user_id]}
    assert f"https://matrix.to/#/{alice.user_id}" in content["formatted_body"]
    assert '<a href="https://docs.example.org/runbooks/flavors"' in content["formatted_body"]
    for text in (
        "FAILURE · SovereignCloudStack/standards",
        "scs-check-gx-scs-main (periodic-hourly, main)",
        "failed once",
        "Build failed.",
        "https://zuul.example.org/t/scs/build/1",
        "https://logs.example.org/1/",
        "react 👀 to claim, ✅ to resolve, 🔇 to mute for a day",
        f"#{incident.pk}",
    ):
        assert text in content["body"]
    page = incident.notifications.get(channel="matrix")
    assert (page.status, page.external_id, page.person) == ("sent", root.event_id, team.alice)


def test_a_retried_send_never_posts_twice(team, accounts, bot):
    incident = open_incident()
    page = incident.notifications.get(channel="matrix")
    again = client().send(team.room, {"msgtype": "m.text", "body": "again"}, key=page.key)
    assert again == page.external_id
    assert len(bot_messages(accounts["alice"], team.room, bot.user_id)) == 1


def test_repeats_edit_the_message_instead_of_posting(team, accounts, bot):
    alice = accounts["alice"]
    incident = open_incident()
    for n in range(2, 15):
        ingestion.accept([report(n)])
    root = root_of(incident)
    assert root.edits >= 1
    assert len(bot_messages(alice, team.room, bot.user_id)) == 1
    edit = latest_edit(alice, team.room, root.event_id)
    assert "failed 14 times, last 12:0" in body(edit)
    assert edit["content"]["m.mentions"] == {}  # an edit pings nobody again


def test_repings_and_next_step_are_thread_replies_mentioning_the_paged_person(
    team, accounts, bot, clock
):
    alice = accounts["alice"]
    incident = open_incident()
    root = root_of(incident)
    clock.shift(timedelta(seconds=301))
    work()
    clock.shift(timedelta(seconds=900))
    work()
    replies = thread_replies(alice, team.room, root.event_id)
    reminder = [e for e in replies if "Reminder 1" in e["content"]["body"]]
    assert reminder and reminder[0]["content"]["m.mentions"] == {"user_ids": [alice.user_id]}
    escalated = [e for e in replies if "Escalated (step 2)" in e["content"]["body"]]
    assert escalated[0]["content"]["m.mentions"] == {"user_ids": [accounts["bob"].user_id]}
    assert len(bot_messages(alice, team.room, bot.user_id)) == 1 + len(replies)
    assert incident.notifications.filter(channel="matrix", status="sent").count() == 1 + len(
        replies
    )


def test_reaction_by_the_oncall_person_claims_and_the_bot_confirms(team, accounts, listener):
    alice = accounts["alice"]
    incident = open_incident()
    root = root_of(incident)
    reaction = alice.react(team.room, root.event_id, "👀")
    sync(listener, alice, team.room, reaction)
    incident.refresh_from_db()
    assert (incident.state, incident.claimed_by) == ("claimed", team.alice)
    assert incident.timeline.filter(kind="claimed", channel="matrix", actor=team.alice).exists()
    confirm = alice.wait_for(team.room, lambda e: "Alice claimed" in e["content"].get("body", ""))
    assert confirm["content"]["m.relates_to"]["event_id"] == root.event_id
    assert "👀 Claimed by Alice" in body(latest_edit(alice, team.room, root.event_id))


def test_reactions_resolve_and_mute_with_or_without_variation_selector(team, accounts, listener):
    alice, bob = accounts["alice"], accounts["bob"]
    first = open_incident(1, job="job-a")
    second = open_incident(1, job="job-b")
    muted = alice.react(team.room, root_of(first).event_id, "🔇")
    resolved = bob.react(team.room, root_of(second).event_id, "✅\ufe0f")
    sync(listener, alice, team.room, muted)
    sync(listener, alice, team.room, resolved)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.muted_until is not None
    assert first.muted_until - datetime.now(UTC) > timedelta(hours=23)
    assert (second.state, second.resolved_by) == ("resolved", team.bob)


def test_reactions_by_unknown_users_and_the_bot_change_nothing(team, accounts, bot, listener):
    incident = open_incident()
    root = root_of(incident)
    stranger = accounts["mallory"].react(team.room, root.event_id, "👀")
    own = bot.react(team.room, root.event_id, "✅")
    sync(listener, accounts["alice"], team.room, stranger)
    sync(listener, accounts["alice"], team.room, own)
    incident.refresh_from_db()
    assert incident.state == "open"
    logged = MatrixEvent.objects.get(event_id=stranger)
    assert (logged.sender, logged.outcome) == (
        accounts["mallory"].user_id,
        "ignored: not a known person",
    )


def test_redacting_the_claim_reaction_unclaims(team, accounts, listener):
    alice = accounts["alice"]
    incident = open_incident()
    reaction = alice.react(team.room, root_of(incident).event_id, "👀")
    sync(listener, alice, team.room, reaction)
    redaction = alice.redact(team.room, reaction)
    sync(listener, alice, team.room, redaction)
    incident.refresh_from_db()
    assert (incident.state, incident.claimed_by) == ("open", None)
    assert incident.timeline.filter(kind="unclaimed", channel="matrix").exists()


def test_commands_answer_and_act(team, accounts, listener):
    alice = accounts["alice"]
    incident = open_incident()
    asked = alice.send_text(team.room, "!oncall")
    sync(listener, alice, team.room, asked)
    answer = alice.wait_for(
        team.room,
        lambda e: (
            e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == asked
        ),
    )
    assert f"Alice ({alice.user_id}) until Mon 07 Dec 09:00 UTC" in answer["content"]["body"]
    by_repo = alice.send_text(team.room, "!oncall SovereignCloudStack/standards")
    sync(listener, alice, team.room, by_repo)
    mute = alice.send_text(team.room, f"!mute {incident.pk} 2h")
    sync(listener, alice, team.room, mute)
    incident.refresh_from_db()
    assert timedelta(minutes=119) < incident.muted_until - datetime.now(UTC) <= timedelta(hours=2)
    claim = alice.send_text(team.room, f"!claim {incident.pk}")
    sync(listener, alice, team.room, claim)
    incident.refresh_from_db()
    assert (incident.state, incident.claimed_by) == ("claimed", team.alice)
    nonsense = alice.send_text(team.room, "!mute 999999 2h")
    sync(listener, alice, team.room, nonsense)
    assert "no incident #999999" in MatrixEvent.objects.get(event_id=nonsense).outcome
    helped = alice.send_text(team.room, "!help")
    sync(listener, alice, team.room, helped)
    assert "!claim N" in MatrixEvent.objects.get(event_id=helped).outcome
    stranger = accounts["mallory"].send_text(team.room, f"!resolve {incident.pk}")
    sync(listener, alice, team.room, stranger)
    assert "not a known person" in MatrixEvent.objects.get(event_id=stranger).outcome
    assert Incident.objects.get(pk=incident.pk).state == "claimed"


def test_topic_changes_at_a_handoff_keeping_the_teams_text(team, accounts, clock):
    alice = accounts["alice"]
    alice.set_topic(team.room, "Infra chat | On call: somebody")
    handoff = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    clock.move_to(handoff + timedelta(minutes=1))
    for pk in notices.claim_notices(datetime.now(UTC)):
        notices.deliver(pk)
    bob = accounts["bob"].user_id
    assert alice.topic(team.room) == (
        f"Infra chat | On call: Bob ({bob}) until Mon 21 Dec 09:00 UTC"
        " · workflow: https://docs.example.org/runbooks/flavors"
    )
    notice = alice.wait_for(team.room, lambda e: "is now on call" in e["content"].get("body", ""))
    assert notice["content"]["m.mentions"] == {"user_ids": [bob]}


def test_listener_restart_neither_replays_nor_misses(team, accounts, listener):
    alice = accounts["alice"]
    first, second = open_incident(1, job="job-a"), open_incident(1, job="job-b")
    claim = alice.react(team.room, root_of(first).event_id, "👀")
    sync(listener, alice, team.room, claim)
    lifecycle.unclaim(Incident.objects.get(pk=first.pk), team.alice, "api")
    # While the listener is down, Alice resolves the second incident.
    resolve = alice.react(team.room, root_of(second).event_id, "✅")
    restarted = Listener(client(), timeout_ms=1000)
    sync(restarted, alice, team.room, resolve)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "open"  # the old 👀 was not replayed
    assert second.state == "resolved"  # the ✅ sent while it was down was not missed
    assert TimelineEntry.objects.filter(incident=first, kind="claimed").count() == 1


def test_first_start_ignores_what_happened_before(team, accounts, listener):
    alice = accounts["alice"]
    incident = open_incident()
    alice.react(team.room, root_of(incident).event_id, "👀")
    MatrixSync.objects.all().delete()  # a bot that never listened before
    Listener(client(), timeout_ms=1000).run_once()
    incident.refresh_from_db()
    assert incident.state == "open"


def test_rate_limited_sends_are_retried_after_the_servers_delay(
    team, accounts, bot, synapse, caplog
):
    synapse.override_ratelimit(bot.user_id, 1, 1)
    caplog.set_level(logging.INFO, logger="escalation.channels.matrix.client")
    try:
        incidents = [open_incident(1, job=f"job-{i}") for i in range(3)]
    finally:
        synapse.reset_ratelimit(bot.user_id)
    roots = [root_of(i) for i in incidents]
    assert all(r.event_id for r in roots)
    waits = [r for r in caplog.records if "rate limited" in r.getMessage()]
    assert waits, "Synapse never answered 429"
    times = sorted(
        accounts["alice"].event(team.room, r.event_id)["origin_server_ts"] for r in roots
    )
    # One message a second: the retries waited for the server's delay.
    assert times[-1] - times[0] >= 1500
    assert MatrixMessage.objects.filter(root=True).count() == 3


def test_escalate_reassign_responder_and_note_commands_act_and_page(team, accounts, listener):
    alice, bob = accounts["alice"], accounts["bob"]
    incident = open_incident()  # step 1 pages Alice, on call
    root = root_of(incident)

    noted = alice.send_text(team.room, f"!note {incident.pk} rebooted  the runner")
    sync(listener, alice, team.room, noted)
    note = incident.timeline.get(kind="note")
    assert (note.actor, note.channel, note.detail) == (team.alice, "matrix", "rebooted  the runner")

    escalated = alice.send_text(team.room, f"!escalate {incident.pk}")
    sync(listener, alice, team.room, escalated)
    assert incident.notifications.filter(step=1, person=team.bob).exists()  # step 2: Bob
    assert "escalated" in MatrixEvent.objects.get(event_id=escalated).outcome

    # A client's mention pill: the body carries the display name, m.mentions the ID.
    pill = {"msgtype": "m.text", "body": f"!reassign {incident.pk} Bob"}
    reassigned = alice.send(
        team.room, "m.room.message", {**pill, "m.mentions": {"user_ids": [bob.user_id]}}
    )
    sync(listener, alice, team.room, reassigned)
    incident.refresh_from_db()
    assert (incident.state, incident.claimed_by) == ("claimed", team.bob)
    work()  # the "assigned" page goes out as a reply in the incident's thread
    assigned = alice.wait_for(team.room, lambda e: "assigned to you" in body(e))
    assert assigned["content"]["m.relates_to"]["event_id"] == root.event_id
    assert assigned["content"]["m.mentions"] == {"user_ids": [bob.user_id]}

    helper = bob.send_text(team.room, f"!responder {incident.pk} {alice.user_id}")
    sync(listener, bob, team.room, helper)
    incident.refresh_from_db()
    assert incident.claimed_by == team.bob  # the claim stays
    assert list(incident.responders.values_list("person__handle", flat=True)) == ["alice"]
    assert incident.notifications.filter(kind="responder", person=team.alice).exists()

    helped = alice.send_text(team.room, "!help")
    stranger = accounts["mallory"].send_text(team.room, f"!escalate {incident.pk}")
    usage = alice.send_text(team.room, f"!reassign {incident.pk}")
    for event_id in (helped, stranger, usage):
        sync(listener, alice, team.room, event_id)
    outcome = MatrixEvent.objects.get(event_id=helped).outcome
    assert all(f"!{c} N" in outcome for c in ("escalate", "reassign", "responder", "note"))
    assert "not a known person" in MatrixEvent.objects.get(event_id=stranger).outcome
    assert MatrixEvent.objects.get(event_id=usage).outcome == "Usage: !reassign N @who"
    done = incident.timeline.filter(channel="matrix").exclude(kind="notified")
    assert list(done.values_list("kind", "actor__handle")) == [
        ("note", "alice"),
        ("escalated", "alice"),
        ("reassigned", "alice"),
        ("responder_added", "bob"),
    ]
