"""Escalation in real processes: Celery workers and beats through a throwaway Redis,
mail to a real SMTP server (aiosmtpd on loopback), the test database in between.

Exactly-once in effect is checked at the SMTP server: no Message-ID arrives twice and
every expected page (incident, step) reaches its address once. Each incident's repo
has a policy of its own whose steps mail addresses of its own, so the 60-second
aggregation window never holds a page back (pages are still counted per incident
listed in a message's ``X-Oncall-Incidents``, so aggregated mail would count right).
Re-pings to one address would wait for that window, so the policies here have none.

The synchronous scenarios (test_scenarios.py) cover the policy semantics; these
tests cover what only real processes show: several workers and beats racing, a
Redis flush and a killed worker, an SMTP outage.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.utils import getaddresses
from pathlib import Path

import pytest
from django.conf import settings

from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification, Repo
from escalation.services import ingestion
from tests.processes import ROOT, child_env, producer_on, redis_server, wait_until
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Page = tuple[str, int]  # (address, incident id)


# Processes -------------------------------------------------------------------------------


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own: flushing it touches nobody else's queues."""
    with redis_server(tmp_path) as server:
        yield server.port


class Stack:
    """Celery workers and beats on the test database, the test's Redis and SMTP server;
    each process logs to a file of its own, and all are stopped at the end."""

    def __init__(self, tmp_path: Path, redis_port: int, smtp: SmtpServer) -> None:
        self.tmp = tmp_path
        self.redis_port = redis_port
        self.env = child_env(
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
            ESCALATION_TICK_SECONDS="1",
            ONCALL_DATA_DIR=str(tmp_path),
            SECRET_KEY=settings.SECRET_KEY,
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", "oncall", *args, "--loglevel", "info"]
        with (self.tmp / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def worker(self, name: str, queues: str = "default,escalation,notify") -> None:
        self._start(
            name,
            "worker",
            "--pool",
            "solo",
            "--queues",
            queues,
            "--hostname",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            env=self.env,
        )
        log = self.tmp / f"{name}.log"
        wait_until(lambda: "ready." in log.read_text(), 60, f"worker {name}", log)

    def beat(self, name: str) -> None:
        # A data directory of its own: two beats never share a schedule file.
        data = self.tmp / name
        data.mkdir()
        self._start(name, "beat", env={**self.env, "ONCALL_DATA_DIR": str(data)})

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no acknowledgements, no goodbye to Redis."""
        self.procs[name].kill()
        self.procs[name].wait()

    def redis(self, *command: str) -> str:
        argv = ["redis-cli", "-p", str(self.redis_port), *command]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()

    def logs(self) -> str:
        return "".join(
            f"\n--- {name} ---\n{(self.tmp / f'{name}.log').read_text()[-2500:]}"
            for name in self.procs
        )

    def wait(self, check: Callable[[], object], seconds: float, what: str) -> object:
        """``wait_until``, failing with the end of every process's log."""
        try:
            return wait_until(check, seconds, what)
        except AssertionError as error:
            raise AssertionError(f"{error}{self.logs()}") from None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack(tmp_path: Path, redis_port: int, smtp: SmtpServer) -> Iterator[Stack]:
    processes = Stack(tmp_path, redis_port, smtp)
    try:
        with producer_on(processes.env["REDIS_URL"]):
            yield processes
    finally:
        processes.stop()


# Incidents and mail ----------------------------------------------------------------------


def open_incidents(count: int, steps: Callable[[int], list[tuple[int, str]]]) -> set[Page]:
    """Open ``count`` incidents, the n-th on a repo of its own whose policy has the
    steps ``steps(n)`` (wait seconds, address prefix) mailing ``<prefix><n>@example.org``;
    return the pages that must arrive."""
    policies = EscalationPolicy.objects.bulk_create(
        EscalationPolicy(
            slug=f"p{n}",
            name=f"Policy {n}",
            steps=[
                {
                    "wait_seconds": wait,
                    "notify": [{"type": "email", "address": f"{to}{n}@example.org"}],
                }
                for wait, to in steps(n)
            ],
        )
        for n in range(count)
    )
    Repo.objects.bulk_create(Repo(name=f"org/r{n}", policy=p) for n, p in enumerate(policies))
    reports = [
        Report(
            source="zuul",
            status="failure",
            repo=f"org/r{n}",
            job="check",
            result="FAILURE",
            summary="Build failed.",
        )
        for n in range(count)
    ]
    outcomes = ingestion.accept(reports).outcomes  # ETA tasks are queued on commit
    return {
        (f"{to}{n}@example.org", outcome.incident.pk)
        for n, outcome in enumerate(outcomes)
        for _, to in steps(n)
    }


def received(smtp: SmtpServer) -> tuple[Counter[str], Counter[Page]]:
    """Messages per Message-ID, and pages per (address, incident) over all messages."""
    messages = smtp.messages
    ids = Counter(str(m["Message-ID"]) for m in messages)
    pages: Counter[Page] = Counter()
    for m in messages:
        address = getaddresses([str(m["To"])])[0][1].lower()
        for incident in str(m["X-Oncall-Incidents"]).split(","):
            pages[(address, int(incident))] += 1
    return ids, pages


def settled(expected: int) -> bool:
    """Every expected notification sent and no incident due any more."""
    sent = Notification.objects.filter(status=Notification.Status.SENT).count()
    escalating = Incident.objects.filter(next_escalation_at__isnull=False).exists()
    return sent >= expected and not escalating


def assert_exactly_once(smtp: SmtpServer, expected: set[Page]) -> None:
    ids, pages = received(smtp)
    assert [mid for mid, n in ids.items() if n > 1] == [], "a Message-ID arrived twice"
    assert {page: n for page, n in pages.items() if n > 1} == {}, "a page arrived twice"
    assert set(pages) == expected
    rows = Notification.objects.values_list("address", "incident_id", "status", "external_id")
    assert Counter(status for *_, status, _ in rows) == {"sent": len(expected)}
    assert {(address, incident) for address, incident, *_ in rows} == expected
    # Rows sent together share one external id: the Message-ID of their message.
    assert {external_id for *_, external_id in rows} == set(ids)


# Tests -----------------------------------------------------------------------------------


def test_two_workers_and_two_beats_send_each_page_exactly_once(stack, smtp):
    for name in ("worker1", "worker2"):
        stack.worker(name)
    for name in ("beat1", "beat2"):
        stack.beat(name)
    # Every fifth incident has a second step, two seconds in: the ETA task and the
    # sweeps of both beats race for it.
    expected = open_incidents(
        500, lambda n: [(0, "first"), (2, "second")] if n % 5 == 0 else [(0, "first")]
    )
    assert len(expected) == 600
    stack.wait(lambda: settled(len(expected)), 90, "600 pages sent")
    time.sleep(3)  # three more ticks of both beats: a duplicate would show now
    assert_exactly_once(smtp, expected)
    for name in ("worker1", "worker2"):
        log = (stack.tmp / f"{name}.log").read_text()
        assert "escalation.channels.deliver" in log, f"{name} sent nothing"


def test_redis_flush_and_killed_worker_lose_no_page_and_double_none(stack, smtp):
    # The escalation worker holds the ETA tasks; killing it never strands a row in
    # ``sending`` (that would wait for the five-minute lease).
    stack.worker("escalation", "escalation")
    stack.worker("mail", "default,notify")
    stack.beat("beat")
    expected = open_incidents(200, lambda n: [(0, "first"), (3, "second"), (6, "third")])
    stack.wait(
        lambda: Notification.objects.filter(status="sent").count() >= 100, 60, "the first pages"
    )
    assert stack.redis("FLUSHALL") == "OK"
    stack.kill("escalation")
    time.sleep(2)
    unsent = Notification.objects.exclude(status="sent").count()
    waiting = Incident.objects.filter(next_escalation_at__isnull=False).count()
    assert unsent + waiting > 0, "the burst was over before the kill: nothing to recover"
    stack.worker("replacement")
    stack.wait(lambda: settled(len(expected)), 60, "every page after the restart")
    time.sleep(3)
    assert_exactly_once(smtp, expected)


def test_smtp_outage_is_retried_while_the_incident_escalates(stack, smtp):
    stack.worker("worker")
    stack.beat("beat")
    smtp.stop()
    expected = open_incidents(1, lambda n: [(0, "first"), (3, "second")])
    first = Notification.objects.filter(step=0)
    stack.wait(lambda: first.filter(status="retrying", attempts=1).exists(), 30, "a failed attempt")
    # Step 2 is paged while step 1's mail is still waiting for its retry.
    second = stack.wait(
        lambda: Notification.objects.filter(step=1, status="retrying").first(), 30, "step 2"
    )
    assert first.get().status == "retrying"
    assert "Connection refused" in first.get().error
    smtp.start()  # the same port
    stack.wait(lambda: settled(len(expected)), 45, "delivery after the outage")
    time.sleep(2)
    assert_exactly_once(smtp, expected)
    assert first.get().attempts == 2
    assert second.created_at < first.get().sent_at
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind="notified").count() == 2
