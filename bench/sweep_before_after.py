"""Aim 5 of issue 16, before and after in the same run: the escalation sweep of
bench/round2.py (10,000 open incidents, 1,000 due) with the engine of an earlier
revision and with the current one, alternately, each on a fresh fill.

    DATABASE_URL=postgres://… REDIS_URL=redis://…/N .venv/bin/python bench/sweep_before_after.py \
        [--before f8f4c66] [--rounds 2]

The earlier ``escalation/engine.py`` is read with ``git show REV:escalation/engine.py``
and loaded beside the current one (it must still work with today's models and
delivery, which the per-notification engine of round 1 does). The database
``oncall_bench_sweep`` is created and dropped; the Redis database is emptied before
each sweep (the sweeps queue their wake-ups into it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--before", default="f8f4c66", help="revision of the engine before")
parser.add_argument("--rounds", type=int, default=2)
ARGS = parser.parse_args()
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("set DATABASE_URL to a PostgreSQL server and REDIS_URL to a Redis database")

import escalation_bench as eb  # noqa: E402  (sets Django up)
import redis  # noqa: E402
from common import ROOT, bench_database, print_table  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from escalation import engine  # noqa: E402
from escalation.models import Notification, TimelineEntry  # noqa: E402


def load_before():
    source = subprocess.run(
        ["git", "show", f"{ARGS.before}:escalation/engine.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # Its Celery task must not take over the current one's name.
    source = source.replace('"escalation.tasks.advance"', '"bench.before.advance"')
    path = Path(tempfile.mkdtemp()) / "engine_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("escalation.engine_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep_once(module) -> tuple[float, int, int, int]:
    call_command("flush", interactive=False, verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    eb.fill(datetime.now(UTC))
    statements = []

    def note(execute, sql, params, many, context):  # noqa: ANN001
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        began = time.perf_counter()
        advanced = module.sweep()["advanced"]
        seconds = time.perf_counter() - began
    assert advanced == eb.DUE, advanced
    assert Notification.objects.count() == eb.DUE
    assert TimelineEntry.objects.count() == eb.DUE
    queued = sum(
        redis.Redis.from_url(os.environ["REDIS_URL"]).llen(q)
        for q in ("notify", "escalation", "default")
    )
    return seconds * 1000, len(statements), queued, advanced


def main() -> None:
    before = load_before()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    rows = [["engine", "sweep ms", "statements", "messages queued", "advanced"]]
    with bench_database("oncall_bench_sweep"):
        for _ in range(ARGS.rounds):
            for label, module in ((f"before ({ARGS.before})", before), ("now", engine)):
                ms, count, queued, advanced = sweep_once(module)
                rows.append([label, f"{ms:.0f}", str(count), str(queued), str(advanced)])
                print(rows[-1], flush=True)
    print_table(rows)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
