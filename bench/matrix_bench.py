"""Reaction → claimed: how fast a 👀 in the room claims the incident.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/matrix_bench.py

Starts a real Synapse (installed by scripts/synapse-env.sh, SQLite, raised rate
limits), a throwaway Redis, one Celery worker (the edits) and the real listener
(``manage.py matrix_listen``) on its own database (``oncall_bench_matrix``).
``--incidents`` incidents are opened and posted; then Alice reacts 👀 on each
message, ``--spacing`` apart. t0 = just before the reaction's PUT, t1 = the
incident's ``claimed_at`` (set by the listener; same clock). Then the same 👀 on a
burst of incidents at once. Also reported: claim → the message's status edit
visible in the room (through the worker), the time to post the messages, and how
many edits a storm of ``--storm`` repeats of one failure costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from common import (  # bench/common.py
    HOST,
    ROOT,
    bench_database,
    print_table,
    process,
    redis_server,
    wait_for,
)

DATABASE = "oncall_bench_matrix"

_stack = ExitStack()
_workdir = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="matrix-bench-")))
REDIS_PORT = _stack.enter_context(redis_server(_workdir))
os.environ["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from escalation import plugins  # noqa: E402
from escalation.models import Incident  # noqa: E402
from escalation.services import ingestion  # noqa: E402
from oncall.celery import app  # noqa: E402
from tests.matrix.chatops import build_team, open_incident, report, root_of  # noqa: E402
from tests.matrix.synapse import Synapse  # noqa: E402
from tests.processes import child_env, database_url  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> list[str]:
    return [
        name,
        str(len(values)),
        f"{statistics.median(values):.3f}",
        f"{percentile(values, 99):.3f}",
        f"{max(values):.3f}",
    ]


def claimed_at(pk: int) -> float | None:
    value = Incident.objects.filter(pk=pk).values_list("claimed_at", flat=True).first()
    return value.timestamp() if value else None


def main(options: argparse.Namespace) -> int:
    (_workdir / "synapse").mkdir()
    synapse = Synapse(Synapse.install(), _workdir / "synapse")
    synapse.start()
    _stack.callback(synapse.stop)
    bot, alice, bob = (synapse.register(n) for n in ("oncallbot", "alice", "bob"))
    room = alice.create_room(name="infra", invite=[bot.user_id, bob.user_id])
    bot.join(room)
    bob.join(room)
    settings.MATRIX_HOMESERVER, settings.MATRIX_ACCESS_TOKEN = synapse.url, bot.access_token
    plugins.register_matrix()
    build_team(room, alice, bob)
    total = options.incidents + options.burst
    app.conf.task_always_eager = True  # this process posts the messages itself
    started = time.monotonic()
    incidents = [open_incident(1, job=f"job-{i}") for i in range(total)]
    posting = (time.monotonic() - started) / total
    storm = open_incident(1, job="storm")
    app.conf.task_always_eager = False
    roots = {i.pk: root_of(i).event_id for i in incidents}

    env = child_env(
        DATABASE_URL=database_url(),
        MATRIX_HOMESERVER=synapse.url,
        MATRIX_ACCESS_TOKEN=bot.access_token,
        REDIS_URL=os.environ["REDIS_URL"],
    )
    manage = [sys.executable, "manage.py"]
    listen_log, worker_log = _workdir / "listener.log", _workdir / "worker.log"
    worker = [sys.executable, "-m", "celery", "-A", "oncall", "worker", "-Q", "notify,default"]
    with ExitStack() as procs:  # stopped before the database goes away
        procs.enter_context(process([*worker, "-c", "1", "--loglevel", "WARNING"], env, worker_log))
        procs.enter_context(process([*manage, "matrix_listen", "--timeout", "30"], env, listen_log))
        code = measure(options, room, alice, incidents, roots, listen_log, worker_log, posting)
        storm_case(options, room, alice, storm, worker_log)
        return code


def storm_case(options, room, alice, incident, worker_log) -> None:  # type: ignore[no-untyped-def]
    """A failure repeating ``--storm`` times over ``--storm-seconds``: how many edits."""
    event_id = root_of(incident).event_id
    started = time.monotonic()
    for n in range(2, options.storm + 2):
        ingestion.accept([report(n, job="storm")])
        time.sleep(max(0.0, started + n * options.storm_seconds / options.storm - time.monotonic()))
    last_report = time.time()
    wanted = f"failed {options.storm + 1} times"

    def final() -> bool:
        found = alice.relations(room, event_id, "m.replace")
        return any(wanted in e["content"]["m.new_content"]["body"] for e in found)

    wait_for(final, 60, "the storm's last edit", worker_log)
    edits = alice.relations(room, event_id, "m.replace")
    shown = max(e["origin_server_ts"] for e in edits) / 1000 - last_report
    interval = settings.MATRIX_EDIT_INTERVAL_SECONDS
    print(
        f"storm: {options.storm} repeats in {time.monotonic() - started:.1f} s → {len(edits)} "
        f"edits of the one message (interval {interval} s); last count shown {shown:.1f} s "
        "after the last report"
    )


def measure(options, room, alice, incidents, roots, listen_log, worker_log, posting) -> int:  # type: ignore[no-untyped-def]
    wait_for(lambda: "listening as" in listen_log.read_text(), 30, "the listener", listen_log)
    time.sleep(1)  # its first /sync has taken the position

    latencies, edits = [], []
    for incident in incidents[: options.incidents]:
        t0 = time.time()
        alice.react(room, roots[incident.pk], "👀")
        wait_for(lambda pk=incident.pk: claimed_at(pk), 30, "a claim", listen_log)
        latencies.append(claimed_at(incident.pk) - t0)  # type: ignore[operator]
        time.sleep(options.spacing)
    for incident in incidents[: options.edits]:
        t0 = claimed_at(incident.pk)

        def edited(event_id: str = roots[incident.pk]) -> bool:
            found = alice.relations(room, event_id, "m.replace")
            return any("Claimed by" in e["content"]["m.new_content"]["body"] for e in found)

        wait_for(edited, 60, "the status edit", worker_log)
        last = max(e["origin_server_ts"] for e in alice.relations(room, roots[incident.pk]))
        edits.append(last / 1000 - t0)  # type: ignore[operator]

    burst = incidents[options.incidents :]
    t0 = time.time()
    for incident in burst:
        alice.react(room, roots[incident.pk], "👀")
    sent = time.time()
    wait_for(lambda: all(claimed_at(i.pk) for i in burst), 60, "the burst", listen_log)
    burst_latency = [claimed_at(i.pk) - t0 for i in burst]  # type: ignore[operator]

    print("\nreaction → claimed against a local Synapse (2 cores)\n")
    print_table(
        [
            ["case", "n", "p50 s", "p99 s", "max s"],
            row(f"one at a time ({options.spacing}s apart)", latencies),
            row(f"burst of {len(burst)} (sent in {sent - t0:.2f}s)", burst_latency),
            row("claim → status edit in the room", edits),
        ]
    )
    print(f"\nposting an incident message (ingest + page + PUT): {posting * 1000:.0f} ms each")
    p99 = percentile(latencies, 99)
    print(f"aim p99 < 2 s: {'met' if p99 < 2 else 'MISSED'} ({p99:.3f} s)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--spacing", type=float, default=0.2)
    parser.add_argument("--storm", type=int, default=200, help="repeats of one failure")
    parser.add_argument("--storm-seconds", type=float, default=10)
    options = parser.parse_args()
    with _stack, bench_database(DATABASE):
        code = main(options)
    sys.exit(code)
