"""The watches' sweep: 1,000 watches checked when none is due and when 10 are.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/watches_bench.py

Creates its own database (``oncall_bench_watches_<pid>`` under the configured server,
migrated) and a throwaway Redis on a free loopback port (opening an incident queues
its escalation; nobody consumes it here). Both go away at the end.

(a) idle: ``watches.check()`` with 1,000 active watches, none due: the sweep's one
    query (index ``watch_due``) in its transaction.
(b) 10 due: the same with 10 watches quiet for longer than ``every + grace``: the
    query plus opening 10 incidents and starting their escalation (reset between runs).
(c) a sign of life: ``ingestion.accept`` of one success report that matches one of
    the 1,000 watches (what every ingested report now pays).
Each figure is the median of ``--runs`` runs, in ms. Target (issue 14): (a) < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from common import HOST, ROOT, bench_database, print_table, redis_server  # bench/common.py

DATABASE = f"oncall_bench_watches_{os.getpid()}"
WATCHES, DUE = 1_000, 10
TARGET_MS = 50.0

_stack = ExitStack()
_workdir = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="watches-bench-")))
os.environ["REDIS_URL"] = f"redis://{HOST}:{_stack.enter_context(redis_server(_workdir))}/0"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from escalation.ingest import Report  # noqa: E402
from escalation.models import EscalationPolicy, Incident, Repo, Watch  # noqa: E402
from escalation.services import ingestion, watches  # noqa: E402


def seed() -> None:
    policy = EscalationPolicy.objects.create(
        slug="ops",
        name="Ops",
        is_default=True,
        steps=[{"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]}],
    )
    repos = Repo.objects.bulk_create(Repo(name=f"org/r{n}", policy=policy) for n in range(100))
    now = timezone.now()
    Watch.objects.bulk_create(
        Watch(
            slug=f"w{n}",
            match={"repo": f"org/r{n % 100}", "pipeline": f"periodic-{n}"},
            every_seconds=86400,
            grace_seconds=3600,
            repo=repos[n % 100],
            created_at=now,
            last_seen=now,
            due_at=now + timedelta(hours=25),
        )
        for n in range(WATCHES)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Watch._meta.db_table}")  # noqa: S608


def make_due() -> None:
    Incident.objects.filter(source=watches.SOURCE).delete()
    Watch.objects.update(incident=None, due_at=timezone.now() + timedelta(hours=25))
    past = timezone.now() - timedelta(minutes=1)
    Watch.objects.filter(slug__in=[f"w{n}" for n in range(DUE)]).update(due_at=past)


def timed(run, runs: int, before=None) -> tuple[float, int]:
    samples, queries = [], 0
    for _ in range(runs):
        if before:
            before()
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            result = run()
            samples.append((time.perf_counter() - began) * 1000)
        queries = len(captured)
        if before:
            assert result == DUE, result  # noqa: S101
    return statistics.median(samples), queries


def main(runs: int) -> int:
    seed()
    idle, idle_queries = timed(watches.check, runs)
    due, due_queries = timed(watches.check, runs, before=make_due)
    report = Report(source="zuul", status="success", repo="org/r7", pipeline="periodic-7")
    sign, sign_queries = timed(lambda: ingestion.accept([report]), runs)
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = watches.due_query(timezone.now()).query.sql_with_params()
        cursor.execute(f"EXPLAIN ANALYZE {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print_table(
        [
            ["case", "watches", "due", "queries", "median ms"],
            ["(a) idle sweep", str(WATCHES), "0", str(idle_queries), f"{idle:.2f}"],
            ["(b) 10 due", str(WATCHES), str(DUE), str(due_queries), f"{due:.2f}"],
            ["(c) one report", str(WATCHES), "-", str(sign_queries), f"{sign:.2f}"],
        ]
    )
    print(f"\nEXPLAIN ANALYZE of the sweep's query:\n{plan}\n")
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {runs} runs each")
    if idle >= TARGET_MS:
        print(f"PROBLEM: idle sweep {idle:.1f} ms, target < {TARGET_MS:.0f} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    with _stack, bench_database(DATABASE):
        code = main(options.runs)
    sys.exit(code)
