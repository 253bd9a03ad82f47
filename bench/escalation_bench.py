"""The escalation engine's sweep, and how fast the first page reaches a mail server.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/escalation_bench.py

Creates its own database (``oncall_bench_escalation_<pid>`` under the configured server,
migrated) and starts a throwaway Redis on a free loopback port (the shared one is
never used: this process queues tasks too). Both go away at the end.

(a) The sweep: 10,000 open incidents, 1,000 of them due. One ``engine.sweep()`` is
    timed: it creates the 1,000 notification rows and queues their delivery and the
    next step's ETA task, which nobody consumes here. Then an idle sweep (none due),
    and ``EXPLAIN ANALYZE`` of the sweep's locking query, which must use the partial
    index ``incident_due``, not scan the table.
(b) First-page latency through the whole stack: gunicorn (2 workers), one Celery
    worker (queues default,escalation,notify; prefork, 2 processes, as ``runstack``
    starts it), one beat with the default tick (ESCALATION_TICK_SECONDS=5) and an
    aiosmtpd server in this process. ``--events`` generic events, ``--spacing`` apart,
    each a new failure of a repo whose policy pages a person of its own at once.
    t0 = the 202 came back (the event is accepted), t1 = the server received the mail
    listing that incident (``X-Oncall-Incidents``): accepted → handed to SMTP.
(c) The same with every ETA task lost: gunicorn queues into a Redis database no
    worker reads, so only the beat's sweep finds the new incidents. The first page
    must then arrive within one tick plus sending.
(d) Five failures one second apart, all paging the same person: each first page goes
    out at once (storm protection only starts beyond ``ONCALL_EMAIL_BURST``, 5).
(e) The embedded default of ``make run``: ``manage.py runstack`` with no
    ``REDIS_URL`` and no ``DATABASE_URL`` (SQLite, kombu's filesystem broker) in a
    data directory of its own, the same events as (b).

Targets (issue 11): first page p99 < 1 s with PostgreSQL + Redis, < 2 s embedded.
``--embedded-only`` runs (e) alone (no PostgreSQL work beyond the throwaway database).
"""

from __future__ import annotations

import argparse
import email
import http.client
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import (  # bench/common.py
    HOST,
    ROOT,
    bench_database,
    free_port,
    port_open,
    print_table,
    process,
    redis_server,
    wait_for,
)

DATABASE = f"oncall_bench_escalation_{os.getpid()}"  # runs never collide
TICK = 5
INCIDENTS, DUE = 10_000, 1_000


# This process queues tasks (the sweep's deliveries): only ever into our own Redis
# (bench/round2.py imports this module's parts and brings its own).
_stack = ExitStack()
if __name__ == "__main__":
    _workdir = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="escalation-bench-")))
    REDIS_PORT = _stack.enter_context(redis_server(_workdir))
    os.environ["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from escalation import engine  # noqa: E402
from escalation.models import EscalationPolicy, Incident, Notification, Repo  # noqa: E402
from oncall.models import ApiToken  # noqa: E402
from rotations.models import Person  # noqa: E402

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command


# (a) The sweep ------------------------------------------------------------------------------


def fill(now: Any) -> None:
    policy = {
        "slug": "bench",
        "name": "Bench",
        "repeat": 0,
        "claim_timeout_seconds": 0,
        "steps": [
            {"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]},
            {"wait_seconds": 600, "notify": [{"type": "email", "address": "lead@example.org"}]},
        ],
    }
    Incident.objects.bulk_create(
        (
            Incident(
                dedup_key=f"bench:{n}",
                source="zuul",
                repo="bench/sweep",
                job=f"job-{n}",
                result="FAILURE",
                summary="Build failed.",
                occurrences=1,
                policy=policy,
                escalation_started_at=now - timedelta(minutes=5),
                # The due ones are spread over the last minute, the rest over the next hour.
                next_escalation_at=(
                    now - timedelta(seconds=60 * n / DUE)
                    if n < DUE
                    else now + timedelta(seconds=1 + 3600 * n / INCIDENTS)
                ),
            )
            for n in range(INCIDENTS)
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Incident._meta.db_table}")


def due_query_plan(now: Any) -> str:
    """The sweep's locking query, exactly as ``engine.sweep`` builds it."""
    with transaction.atomic():
        query = (
            Incident.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("repo_ref")
            .filter(engine.due(now))
            .order_by("next_escalation_at")[: engine.BATCH]
        )
        plan = query.explain(analyze=True)
        transaction.set_rollback(True)
    return plan


def sweep_case() -> tuple[list[list[str]], str, list[str]]:
    now = timezone.now()
    fill(now)
    plan = due_query_plan(timezone.now())
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        counts = engine.sweep()
        seconds = time.perf_counter() - started
    created = Notification.objects.count()
    idle = []
    with CaptureQueriesContext(connection) as idle_queries:
        engine.sweep()
    for _ in range(5):
        started = time.perf_counter()
        engine.sweep()
        idle.append(time.perf_counter() - started)
    queued = redis.Redis(host=HOST, port=REDIS_PORT).llen("notify")
    rows = [
        [
            f"sweep, {DUE:,} due of {INCIDENTS:,} open",
            str(counts["advanced"]),
            str(created),
            str(queued),
            str(len(queries)),
            f"{seconds * 1000:.0f}",
            f"{seconds * 1000 / max(1, counts['advanced']):.2f}",
        ],
        [
            f"idle sweep, 0 due of {INCIDENTS:,} open (median of 5)",
            "0",
            "0",
            "",
            str(len(idle_queries)),
            f"{statistics.median(idle) * 1000:.1f}",
            "",
        ],
    ]
    problems = []
    if counts["advanced"] != DUE or created != DUE:
        problems.append(f"sweep advanced {counts['advanced']} and created {created}, not {DUE}")
    if "incident_due" not in plan or f"Seq Scan on {Incident._meta.db_table}" in plan:
        problems.append("the due query does not use the incident_due index")
    return rows, plan, problems


def reset() -> None:
    """Empty the incidents (and what hangs off them) and the broker for (b) and (c)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Incident._meta.db_table} CASCADE")
    redis.Redis(host=HOST, port=REDIS_PORT).flushall()


# (b) and (c) First-page latency ------------------------------------------------------------


class Inbox:
    """An aiosmtpd server noting when the first mail about each incident arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.first: dict[int, float] = {}
        self.mails: Counter[int] = Counter()  # incident → mails listing it
        self.messages = 0
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname=HOST, port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        arrived = time.monotonic()
        message = email.message_from_bytes(envelope.content)
        with self.lock:
            self.messages += 1
            for pk in str(message["X-Oncall-Incidents"] or "").split(","):
                if pk.strip().isdigit():
                    self.first.setdefault(int(pk), arrived)
                    self.mails[int(pk)] += 1
        return "250 Message accepted"


def people_with_policies(prefix: str, count: int) -> None:
    """``count`` repos ``bench/<prefix><n>``, each paging a person of its own at once."""
    people = Person.objects.bulk_create(
        Person(handle=f"{prefix}{n}", name=f"Person {prefix}{n}", email=f"{prefix}{n}@example.org")
        for n in range(count)
    )
    policies = EscalationPolicy.objects.bulk_create(
        EscalationPolicy(
            slug=f"{prefix}{n}",
            name=f"Pages {p.handle}",
            steps=[{"wait_seconds": 0, "notify": [{"type": "person", "person": p.handle}]}],
        )
        for n, p in enumerate(people)
    )
    Repo.objects.bulk_create(
        Repo(name=f"bench/{prefix}{n}", policy=policy) for n, policy in enumerate(policies)
    )


def one_person_repos(prefix: str, count: int) -> None:
    """``count`` repos ``bench/<prefix><n>`` whose policy pages one person at once."""
    person = Person.objects.create(
        handle=prefix, name=f"Person {prefix}", email=f"{prefix}@example.org"
    )
    policy = EscalationPolicy.objects.create(
        slug=prefix,
        name=f"Pages {prefix}",
        steps=[{"wait_seconds": 0, "notify": [{"type": "person", "person": person.handle}]}],
    )
    Repo.objects.bulk_create(Repo(name=f"bench/{prefix}{n}", policy=policy) for n in range(count))


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or HOST}:{db['PORT'] or 5432}/{db['NAME']}"


def post_events(port: int, token: str, prefix: str, count: int, spacing: float) -> dict[int, float]:
    """Post one new failure per repo, ``spacing`` apart; incident id → when the 202 came."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answered: dict[int, float] = {}
    began = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, began + n * spacing - time.monotonic()))
        body = {
            "source": "bench",
            "status": "failure",
            "repo": f"bench/{prefix}{n}",
            "job": "check",
            "result": "FAILURE",
            "summary": "Build failed.",
            "dedup_key": f"bench:{prefix}:{n}",
        }
        conn.request("POST", "/api/v1/events/", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 202:
            sys.exit(f"POST answered {response.status}: {payload[:500]!r}")
        answered[json.loads(payload)["incidents"][0]["id"]] = time.monotonic()
    conn.close()
    return answered


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_case(
    name: str,
    web_redis: str,
    prefix: str,
    events: tuple[int, float],
    env: dict[str, str],
    token: str,
    inbox: Inbox,
) -> tuple[list[str], list[float]]:
    """Post ``events`` (count, spacing) through a gunicorn of its own."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi", "--bind", f"{HOST}:{port}"]
    argv += ["--workers", "2", "--graceful-timeout", "5"]
    log = Path(env["ONCALL_DATA_DIR"]) / f"gunicorn-{prefix}.log"
    with process(argv, {**env, "REDIS_URL": web_redis}, log):
        wait_for(lambda: port_open(port), 30, "gunicorn", log)
        answered = post_events(port, token, prefix, *events)
        return measured(name, answered, inbox)


def measured(name: str, answered: dict[int, float], inbox: Inbox) -> tuple[list[str], list[float]]:
    """The table row for events ``answered`` (incident → 202 time), once their first
    mails came or 3 ticks passed (what has not come by then counts as lost)."""
    deadline = time.monotonic() + 3 * TICK
    while not set(answered) <= set(inbox.first) and time.monotonic() < deadline:
        time.sleep(0.1)
    latencies = [inbox.first[pk] - t0 for pk, t0 in answered.items() if pk in inbox.first]
    lost = len(answered) - len(latencies)
    row = [
        name,
        str(len(answered)),
        str(len(latencies)),
        *(f"{quantile(latencies, q):.3f}" if latencies else "" for q in (0.5, 0.9, 0.99)),
        f"{max(latencies):.3f}" if latencies else "",
        str(lost),
    ]
    return row, latencies


EMBEDDED_SETUP = """
from escalation.models import EscalationPolicy, Repo
from oncall.models import ApiToken
from rotations.models import Person
for n in range({count}):
    p = Person.objects.create(handle=f"e{{n}}", name=f"Person e{{n}}", email=f"e{{n}}@example.org")
    policy = EscalationPolicy.objects.create(
        slug=f"e{{n}}", name=f"Pages e{{n}}",
        steps=[{{"wait_seconds": 0, "notify": [{{"type": "person", "person": p.handle}}]}}],
    )
    Repo.objects.create(name=f"bench/e{{n}}", policy=policy)
token = ApiToken(name="bench", scopes=["ingest"])
secret = token.set_new_secret()
token.save()
print(secret)
"""


def embedded_case(args: argparse.Namespace) -> tuple[list[str], list[float], Path]:
    """(e): ``manage.py runstack`` on make run's defaults, in a data directory of its own,
    with an inbox of its own (its incident ids start at 1 again)."""
    data = _workdir / "embedded"
    data.mkdir()
    port = free_port()
    inbox = Inbox()
    inbox.controller.start()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="oncall.settings",
        ONCALL_DATA_DIR=str(data),
        EMAIL_URL=f"smtp://{HOST}:{inbox.port}",
        ESCALATION_TICK_SECONDS=str(TICK),
        ONCALL_DEMO="0",
        HOST=HOST,
        PORT=str(port),
        SECRET_KEY=settings.SECRET_KEY,
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    log = data / "runstack.log"
    try:
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        setup = EMBEDDED_SETUP.format(count=args.events)
        shell = [*manage, "shell", "-v", "0", "-c", setup]
        done = subprocess.run(shell, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
        token = done.stdout.strip().splitlines()[-1]
        with process([*manage, "runstack", "--no-migrate"], env, log):
            wait_for(lambda: port_open(port), 60, "runstack's web", log)
            wait_for(lambda: "ready." in log.read_text(), 60, "runstack's worker", log)
            answered = post_events(port, token, "e", args.events, args.spacing)
            row, latencies = measured("(e) embedded: SQLite, filesystem broker", answered, inbox)
    finally:
        inbox.controller.stop()
    print(f"(e): {inbox.messages} mails for {len(inbox.first)} incidents")
    if row[-1] != "0":
        trouble = [line for line in log.read_text().splitlines() if "ERROR" in line]
        print("\n".join(trouble[-20:]) or log.read_text()[-3000:], file=sys.stderr)
    return row, latencies, log


HEADER = ["first page", "events", "paged", "p50 s", "p90 s", "p99 s", "max s", "lost"]
TARGETS = {"(b)": 1.0, "(d)": 1.0, "(e)": 2.0}  # p99 of accepted → handed to SMTP, issue 11


def server_cases(args: argparse.Namespace, problems: list[str]) -> list[list[str]]:
    """(b), (c) and (d) on PostgreSQL + Redis."""
    token = ApiToken(name="bench", scopes=["ingest"])
    secret = token.set_new_secret()
    token.save()
    people_with_policies("b", args.events)
    people_with_policies("c", args.events)
    one_person_repos("d", 5)
    inbox = Inbox()
    inbox.controller.start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "oncall.settings",
        "REDIS_URL": f"redis://{HOST}:{REDIS_PORT}/0",
        "EMAIL_URL": f"smtp://{HOST}:{inbox.port}",
        "ESCALATION_TICK_SECONDS": str(TICK),
        "ONCALL_DATA_DIR": str(_workdir),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    celery = [sys.executable, "-m", "celery", "-A", "oncall"]
    worker_log = _workdir / "worker.log"
    latency = []
    events = (args.events, args.spacing)
    try:
        with (
            process(
                [*celery, "worker", "--queues", "default,escalation,notify", "--concurrency", "2"]
                + ["--loglevel", "info", "--without-mingle", "--without-gossip"],
                env,
                worker_log,
            ),
            process([*celery, "beat", "--loglevel", "info"], env, _workdir / "beat.log"),
        ):
            wait_for(lambda: "ready." in worker_log.read_text(), 60, "the worker", worker_log)
            row, _ = latency_case(
                "(b) ETA task, broker intact", env["REDIS_URL"], "b", events, env, secret, inbox
            )
            latency.append(row)
            # Database 1 of the same Redis: the web tier's ETA tasks go where no worker reads.
            row, lost_eta = latency_case(
                f"(c) every ETA task lost: sweep, tick {TICK} s",
                f"redis://{HOST}:{REDIS_PORT}/1",
                "c",
                events,
                env,
                secret,
                inbox,
            )
            latency.append(row)
            row, _ = latency_case(
                "(d) 5 failures 1 s apart, one person",
                env["REDIS_URL"],
                "d",
                (5, 1.0),
                env,
                secret,
                inbox,
            )
            latency.append(row)
    finally:
        inbox.controller.stop()
    print(
        f"(b)-(d): {inbox.messages} mails for {len(inbox.first)} incidents; "
        f"{Notification.objects.filter(status='sent').count()} notifications sent"
    )
    if lost_eta:
        slowest = max(lost_eta)
        within = slowest <= TICK + 1
        print(
            f"lost ETA tasks: slowest first page {slowest:.2f} s "
            f"({'within' if within else 'NOT within'} one tick of {TICK} s + 1 s for sending)"
        )
        if not within:
            problems.append(f"a first page took {slowest:.2f} s without its ETA task")
    if inbox.messages != len(inbox.first):
        problems.append(f"{inbox.messages} mails for {len(inbox.first)} incidents")
    if problems:
        print(worker_log.read_text()[-3000:], file=sys.stderr)
    return latency


def main(args: argparse.Namespace) -> int:
    began = time.monotonic()
    problems: list[str] = []
    latency = [HEADER]
    if not args.embedded_only:
        rows, plan, problems = sweep_case()
        print_table(
            [["(a) engine", "advanced", "notifications", "queued", "queries", "ms", "ms/incident"]]
            + rows
        )
        print(f"\nEXPLAIN ANALYZE of the sweep's due query ({engine.BATCH} per batch):\n{plan}\n")
        reset()
        latency += server_cases(args, problems)
    if not args.skip_embedded:
        row, _, log = embedded_case(args)
        latency.append(row)
    print()
    print_table(latency)
    for row in latency[1:]:
        label = row[0].split()[0]
        if row[-1] != "0":
            problems.append(f"{label}: {row[-1]} incidents never paged")
        target = TARGETS.get(label)
        if target is not None and row[5] and float(row[5]) >= target:
            problems.append(f"{label}: first page p99 {row[5]} s, target < {target:.0f} s")
    print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"PostgreSQL {connection.pg_version // 10000}, "  # type: ignore[attr-defined]
        f"{time.monotonic() - began:.0f} s"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100, help="per latency case")
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between events")
    parser.add_argument("--embedded-only", action="store_true", help="only (e)")
    parser.add_argument("--skip-embedded", action="store_true", help="no (e)")
    options = parser.parse_args()
    with _stack, bench_database(DATABASE):
        code = main(options)
    sys.exit(code)
