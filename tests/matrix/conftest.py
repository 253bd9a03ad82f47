"""A real Synapse homeserver for the Matrix tests: one per test session, never mocked;
the people on it, a room with the bot as moderator, and a team using that room."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from escalation import plugins
from escalation.channels.matrix.channel import client
from escalation.chatops.listener import Listener
from oncall.celery import app
from tests.matrix.chatops import build_team
from tests.matrix.synapse import Synapse, SynapseError


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """The running homeserver (installed by scripts/synapse-env.sh on first use).

    Fails, never skips, when Synapse cannot be installed or started.
    """
    problem = None
    try:
        server = Synapse(Synapse.install(), tmp_path_factory.mktemp("synapse"))
        server.start()
    except SynapseError as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block: no chained traceback in the report
        pytest.fail(f"cannot run the Synapse homeserver for the Matrix tests:\n{problem}", False)
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing test that used Synapse shows the end of the homeserver's log."""
    report = yield
    server = getattr(item, "funcargs", {}).get("synapse")
    if report.failed and isinstance(server, Synapse):
        report.sections.append(("Synapse log", server.log_tail()))
    return report


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # Alice's shift: 23 Nov to 7 Dec 09:00 UTC


@pytest.fixture(scope="session")
def accounts(synapse):
    return {name: synapse.register(name) for name in ("oncallbot", "alice", "bob", "mallory")}


@pytest.fixture
def room(accounts):
    alice = accounts["alice"]
    others = [accounts[n] for n in ("oncallbot", "bob", "mallory")]
    room_id = alice.create_room(name="infra", invite=[u.user_id for u in others])
    for user in others:
        user.join(room_id)
    # As the README asks: the bot is a moderator, so it may set the topic.
    levels = alice.state(room_id, "m.room.power_levels")
    levels["users"][accounts["oncallbot"].user_id] = 50
    alice.set_state(room_id, "m.room.power_levels", levels)
    return room_id


@pytest.fixture
def bot(settings, synapse, accounts):
    settings.MATRIX_HOMESERVER = synapse.url
    settings.MATRIX_ACCESS_TOKEN = accounts["oncallbot"].access_token
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    app.conf.task_always_eager = True  # deliveries and edits run here, as a worker runs them
    plugins.register_matrix()
    yield accounts["oncallbot"]
    plugins.unregister_matrix()
    app.conf.task_always_eager = False


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def team(bot, room, accounts, clock):
    return build_team(room, accounts["alice"], accounts["bob"])


@pytest.fixture
def listener(team):
    listener = Listener(client(), timeout_ms=1000)
    listener.run_once()  # the first start takes the current position
    return listener
