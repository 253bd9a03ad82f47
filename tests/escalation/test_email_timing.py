"""E-mail timing in real processes: two Celery workers and a beat on a Redis of their
own, mail to a real SMTP server (aiosmtpd), the test database in between. One stack
serves the whole module (starting workers is the slow part).

What is asserted are orders and gaps relative to each other, with a tolerance of a
sweep tick, not how fast this machine is: first pages are not held back, re-pings
keep the policy's rhythm, and a storm to one address becomes at most
``ONCALL_EMAIL_BURST`` single mails and one digest per window.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from escalation.ingest import Report
from escalation.models import EscalationPolicy, Repo
from escalation.services import ingestion
from rotations.models import Person
from tests.escalation.test_reliability import Stack
from tests.processes import free_port, port_open, producer_on, wait_until
from tests.smtp import SmtpServer, _Handler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TICK = 1.0  # ESCALATION_TICK_SECONDS of the stack (tests.escalation.test_reliability.Stack)
SLACK = 0.5  # for handing a message over on a busy machine
WINDOW = 10  # ONCALL_EMAIL_BURST_WINDOW_SECONDS here; the burst is the default, 5
ADDRESS = "alice@example.org"


class _TimedHandler(_Handler):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.server.arrived.append(time.monotonic())  # type: ignore[attr-defined]
        return await super().handle_DATA(server, session, envelope)


class TimedSmtpServer(SmtpServer):
    """The test SMTP server, noting when each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            controller = Controller(_TimedHandler(self), hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller

    def timed(self) -> list[tuple[float, EmailMessage]]:
        with self.lock:
            return list(zip(self.arrived, [r.message for r in self.received], strict=True))

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.arrived.clear()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[tuple[Stack, TimedSmtpServer]]:
    tmp = tmp_path_factory.mktemp("email-timing")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no redis-server binary: install it with `apt-get install -y redis-server`")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)]
    redis = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    smtp = TimedSmtpServer()
    smtp.start()
    with django_db_blocker.unblock():
        processes = Stack(tmp, port, smtp)
    processes.env["ONCALL_EMAIL_BURST_WINDOW_SECONDS"] = str(WINDOW)
    try:
        wait_until(lambda: port_open(port), 15, "redis-server")
        with producer_on(processes.env["REDIS_URL"]):
            processes.worker("worker1")
            processes.worker("worker2")
            processes.beat("beat")
            yield processes, smtp
    finally:
        processes.stop()
        smtp.stop()
        redis.terminate()
        redis.wait(timeout=15)


@pytest.fixture
def mail(stack: tuple[Stack, TimedSmtpServer]) -> TimedSmtpServer:
    _, smtp = stack
    smtp.clear()
    return smtp


def alice_pages(steps: list[dict[str, Any]]) -> None:
    """Repos org/* all page Alice with ``steps``."""
    Person.objects.create(handle="alice", name="Alice", email=ADDRESS)
    policy = EscalationPolicy.objects.create(slug="alice", name="Alice", steps=steps)
    Repo.objects.bulk_create(Repo(name=f"org/r{n}", policy=policy) for n in range(50))


def fail(n: int) -> tuple[int, float]:
    """A new failure of repo n; its incident id and when it was accepted (committed)."""
    report = Report(
        source="zuul", status="failure", repo=f"org/r{n}", job="check", summary=f"r{n} failed"
    )
    incident = ingestion.accept([report]).outcomes[0].incident.pk
    return incident, time.monotonic()


def listed(message: EmailMessage) -> list[int]:
    return [int(pk) for pk in str(message["X-Oncall-Incidents"]).split(",")]


def at_once(stack: Stack, smtp: TimedSmtpServer, count: int, seconds: float) -> None:
    stack.wait(lambda: len(smtp.arrived) >= count, seconds, f"{count} mails")


def test_five_first_pages_one_second_apart_each_go_out_within_the_tick(stack, mail):
    processes, _ = stack
    alice_pages([{"wait_seconds": 0, "notify": [{"type": "person", "person": "alice"}]}])
    accepted = []
    for n in range(5):
        accepted.append(fail(n))
        time.sleep(max(0.0, accepted[0][1] + n + 1 - time.monotonic()))
    at_once(processes, mail, 5, 2 * WINDOW)
    timed = mail.timed()
    assert [listed(m) for _, m in timed] == [[pk] for pk, _ in accepted]
    for (pk, t0), (arrived, _) in zip(accepted, timed, strict=True):
        # Handed to the worker on commit: within the tick, never a window later.
        assert arrived - t0 <= TICK + SLACK, f"incident {pk} waited {arrived - t0:.2f} s"


def test_re_pings_keep_the_policys_rhythm_then_the_next_step(stack, mail):
    processes, _ = stack
    page_alice = {"type": "person", "person": "alice"}
    alice_pages(
        [
            {"wait_seconds": 0, "notify": [page_alice], "repeat": 2, "repeat_every_seconds": 5},
            {"wait_seconds": 15, "notify": [{"type": "email", "address": ADDRESS}]},
        ]
    )
    pk, _ = fail(0)
    at_once(processes, mail, 4, 30)
    time.sleep(2 * TICK)  # a fifth mail would show now
    timed = mail.timed()
    assert [listed(m) for _, m in timed] == [[pk]] * 4
    headlines = [m.get_body(("plain",)).get_content().splitlines()[0] for _, m in timed]
    assert "Still unclaimed" not in headlines[0]
    assert all("Still unclaimed" in line for line in headlines[1:3])
    gaps = [b - a for (a, _), (b, _) in zip(timed, timed[1:], strict=False)]
    # 0 s, 5 s and 10 s the re-pings, 15 s the next step: each gap 5 s ± a tick.
    assert all(abs(gap - 5) <= TICK + SLACK for gap in gaps), gaps


def test_fifty_incidents_in_ten_seconds_make_five_mails_and_one_digest(stack, mail):
    processes, _ = stack
    alice_pages([{"wait_seconds": 0, "notify": [{"type": "person", "person": "alice"}]}])
    began = time.monotonic()
    incidents = []
    for n in range(50):
        time.sleep(max(0.0, began + n * 0.2 - time.monotonic()))
        incidents.append(fail(n)[0])
    processes.wait(
        lambda: sum(len(listed(m)) for m in mail.messages) >= 50, 3 * WINDOW, "every incident"
    )
    time.sleep(2 * TICK)  # a duplicate would show now
    timed = mail.timed()
    every = [pk for _, m in timed for pk in listed(m)]
    assert sorted(every) == sorted(incidents), "every incident listed once"
    singles = [(at, m) for at, m in timed if len(listed(m)) == 1]
    digests = [(at, m) for at, m in timed if len(listed(m)) > 1]
    assert len(digests) == 1
    digest_at, digest = digests[0]
    before = [at for at, _ in singles if at < digest_at]
    assert len(before) == 5, "the burst went out at once, the rest waited"
    assert before == [at for at, _ in timed[:5]]
    # The digest closes the window the first mail opened: WINDOW s later, ± a tick.
    assert abs(digest_at - timed[0][0] - WINDOW) <= TICK + SLACK
    assert digest["Subject"].startswith("[oncall] Digest:")
    assert digest.get_body(("plain",)).get_content().count("/act/claim/") == len(listed(digest))
    # Anything after the digest belongs to the next window: at most 4 more singles.
    assert len(timed) - 6 <= 4
