"""The real ``manage.py matrix_listen`` process: joins when invited, claims on 👀 within
seconds, stops cleanly on SIGTERM and resumes after a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

from escalation import plugins
from escalation.models import Incident
from oncall.celery import app
from tests.matrix.chatops import build_team, open_incident, root_of
from tests.processes import ROOT, child_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bot(settings, synapse):
    bot = synapse.register("listenerbot")
    settings.MATRIX_HOMESERVER, settings.MATRIX_ACCESS_TOKEN = synapse.url, bot.access_token
    app.conf.task_always_eager = True
    plugins.register_matrix()
    yield bot
    plugins.unregister_matrix()
    app.conf.task_always_eager = False


@contextmanager
def listening(synapse, bot, log):
    env = child_env(MATRIX_HOMESERVER=synapse.url, MATRIX_ACCESS_TOKEN=bot.access_token)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "matrix_listen", "--timeout", "5"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "listening as" in log.read_text(), 30, "the listener", log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)


def test_listener_joins_when_invited_and_claims_on_a_reaction(synapse, bot, tmp_path):
    alice, bob = synapse.register("pat"), synapse.register("quinn")
    room = alice.create_room(name="ops", invite=[bot.user_id, bob.user_id])
    bob.join(room)
    log = tmp_path / "listener.log"
    with listening(synapse, bot, log) as proc:
        wait_until(
            lambda: alice.state(room, "m.room.member", bot.user_id).get("membership") == "join",
            30,
            "the bot joining",
            log,
        )
        team = build_team(room, alice, bob)
        incident = open_incident()
        alice.react(room, root_of(incident).event_id, "👀")
        wait_until(
            lambda: Incident.objects.get(pk=incident.pk).state == "claimed", 15, "a claim", log
        )
        assert Incident.objects.get(pk=incident.pk).claimed_by == team.alice
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    assert "stopped" in log.read_text()
    # Restarted, it resumes: a 👀 sent while it was down claims the next incident.
    second = open_incident(1, job="job-b")
    alice.react(room, root_of(second).event_id, "👀")
    with listening(synapse, bot, tmp_path / "again.log"):
        wait_until(
            lambda: Incident.objects.get(pk=second.pk).state == "claimed",
            15,
            "a claim after the restart",
            tmp_path / "again.log",
        )


def test_listener_start_sets_the_topic_of_rooms_configured_while_it_was_away(
    synapse, bot, tmp_path
):
    alice, bob = synapse.register("robin"), synapse.register("sasha")
    room = alice.create_room(name="ops", invite=[bot.user_id], power_levels={bot.user_id: 50})
    bot.join(room)
    plugins.unregister_matrix()  # configured by a process without Matrix: nothing set the topic
    build_team(room, alice, bob)
    assert alice.topic(room) == ""
    log = tmp_path / "listener.log"
    with listening(synapse, bot, log):
        assert "1 room topics set" in log.read_text()
    topic = alice.topic(room)
    assert topic.startswith("On call: ") and " until " in topic, topic
