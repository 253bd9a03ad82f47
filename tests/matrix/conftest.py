"""A real Synapse homeserver for the Matrix tests: one per test session, never mocked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
