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

MQTT publish → incident message in the room (``--mqtt`` failures, one new job each,
``--mqtt-spacing`` apart): a throwaway Mosquitto, the real ``manage.py zuul_mqtt``
and a worker on all queues, as ``make run`` starts them. t0 = just before the
publish, t1 = the message's ``origin_server_ts`` on Synapse (same clock).
``--broker embedded`` runs every process without Redis, on kombu's filesystem
transport (``make run``'s default; ``CELERY_BROKER_POLL_MS`` as set); run it
without ``DATABASE_URL`` (not under testenv.py) for SQLite as well:

    .venv/bin/python bench/matrix_bench.py --broker embedded --only mqtt
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

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


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--spacing", type=float, default=0.2)
    parser.add_argument("--storm", type=int, default=200, help="repeats of one failure")
    parser.add_argument("--storm-seconds", type=float, default=10)
    parser.add_argument("--mqtt", type=int, default=20, help="MQTT publishes, one new failure each")
    parser.add_argument("--mqtt-spacing", type=float, default=1.0)
    parser.add_argument("--broker", choices=("redis", "embedded"), default="redis")
    parser.add_argument("--only", choices=("all", "reactions", "mqtt"), default="all")
    return parser.parse_args()


OPTIONS = arguments()  # before Django reads REDIS_URL
_stack = ExitStack()
_workdir = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="matrix-bench-")))
if OPTIONS.broker == "redis":
    REDIS_PORT = _stack.enter_context(redis_server(_workdir))
    os.environ["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
else:
    os.environ.pop("REDIS_URL", None)  # every process: kombu's filesystem transport
    os.environ["ONCALL_DATA_DIR"] = str(_workdir / "data")
# Without DATABASE_URL, make run's SQLite: a file of its own, reached by the children too.
SQLITE = not os.environ.get("DATABASE_URL")
DATABASE = str(_workdir / "bench.sqlite3") if SQLITE else "oncall_bench_matrix"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from escalation import plugins  # noqa: E402
from escalation.models import Incident, MatrixMessage, Notification, Occurrence  # noqa: E402
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
    env = child_env(
        DATABASE_URL=database_url(),
        MATRIX_HOMESERVER=synapse.url,
        MATRIX_ACCESS_TOKEN=bot.access_token,
        REDIS_URL=os.environ.get("REDIS_URL"),
    )
    if options.only in ("all", "mqtt"):
        mqtt_case(options, env, room, alice)
    if options.only == "mqtt":
        return 0
    total = options.incidents + options.burst
    app.conf.task_always_eager = True  # this process posts the messages itself
    started = time.monotonic()
    incidents = [open_incident(1, job=f"job-{i}") for i in range(total)]
    posting = (time.monotonic() - started) / total
    storm = open_incident(1, job="storm")
    app.conf.task_always_eager = False
    roots = {i.pk: root_of(i).event_id for i in incidents}

    manage = [sys.executable, "manage.py"]
    listen_log, worker_log = _workdir / "listener.log", _workdir / "worker.log"
    worker = [sys.executable, "-m", "celery", "-A", "oncall", "worker", "-Q", "notify,default"]
    with ExitStack() as procs:  # stopped before the database goes away
        procs.enter_context(process([*worker, "-c", "1", "--loglevel", "WARNING"], env, worker_log))
        procs.enter_context(process([*manage, "matrix_listen", "--timeout", "30"], env, listen_log))
        code = measure(options, room, alice, incidents, roots, listen_log, worker_log, posting)
        storm_case(options, room, alice, storm, worker_log)
        return code


def zuul_failure(job: str) -> bytes:
    """Zuul's MQTT message of one failed build of ``job`` (a new build each time)."""
    payload = json.loads((ROOT / "tests/fixtures/zuul-periodic-failure.json").read_text())
    build = payload["buildset"]["builds"][0]
    build.update(job_name=job, uuid=uuid.uuid4().hex)
    payload["buildset"]["builds"] = [build]
    return json.dumps(payload).encode()


def mqtt_case(options, env, room, alice) -> None:  # type: ignore[no-untyped-def]
    """MQTT publish → the incident's message in the room, through make run's processes."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    subscriber_log, worker_log = _workdir / "zuul_mqtt.log", _workdir / "mqtt-worker.log"
    queues = "default,escalation,notify"
    worker = [sys.executable, "-m", "celery", "-A", "oncall", "worker", "--queues", queues]
    subscriber = [sys.executable, "manage.py", "zuul_mqtt", "--url", f"mqtt://{HOST}:{port}"]
    subscriber += ["--topic", "zuul/#", "--client-id", f"bench-{uuid.uuid4().hex[:8]}"]
    latencies: list[float] = []
    stages: dict[str, list[float]] = {"stored": [], "paged": [], "shown": []}
    with ExitStack() as procs:
        procs.enter_context(process([binary, "-p", str(port)], env, _workdir / "mosquitto.log"))
        wait_for(lambda: port_open(port), 15, "mosquitto")
        procs.enter_context(
            process([*worker, "--concurrency", "2", "--loglevel", "WARNING"], env, worker_log)
        )
        procs.enter_context(process(subscriber, env, subscriber_log))
        wait_for(lambda: "subscribed to" in subscriber_log.read_text(), 30, "zuul_mqtt")
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        publisher.connect(HOST, port)
        publisher.loop_start()
        time.sleep(3)  # the worker is up and idle: what a failure meets on a quiet day
        for n in range(options.mqtt):
            job = f"mqtt-{n}"
            payload = zuul_failure(job)
            t0 = time.time()
            publisher.publish("zuul/scs/periodic-hourly", payload, qos=1).wait_for_publish(10)

            def posted(job: str = job) -> str:
                found = MatrixMessage.objects.filter(incident__job=job, root=True)
                return found.exclude(event_id="").values_list("event_id", flat=True).first() or ""

            wait_for(posted, 30, f"the message of {job}", worker_log)
            shown = alice.event(room, posted())["origin_server_ts"] / 1000
            latencies.append(shown - t0)
            stored = Occurrence.objects.filter(incident__job=job).earliest("received_at")
            page = Notification.objects.filter(incident__job=job, channel="matrix").earliest("pk")
            stages["stored"].append(stored.received_at.timestamp() - t0)
            stages["paged"].append(page.created_at.timestamp() - stored.received_at.timestamp())
            stages["shown"].append(shown - page.created_at.timestamp())
            time.sleep(options.mqtt_spacing)
        publisher.disconnect()
        publisher.loop_stop()
    broker = "Redis" if options.broker == "redis" else "embedded (filesystem)"
    poll = f", poll {settings.CELERY_BROKER_POLL_MS} ms" if options.broker == "embedded" else ""
    database = "SQLite" if SQLITE else "PostgreSQL"
    print(f"\nMQTT publish → incident message in the room ({broker} broker{poll}, {database})\n")
    print_table(
        [
            ["case", "n", "p50 s", "p99 s", "max s"],
            row(f"one failure at a time ({options.mqtt_spacing}s apart)", latencies),
            row("  publish → stored (zuul_mqtt)", stages["stored"]),
            row("  stored → page row (worker: advance)", stages["paged"]),
            row("  page row → in the room (worker: deliver)", stages["shown"]),
        ]
    )
    p99 = percentile(latencies, 99)
    print(f"aim p99 < 2 s: {'met' if p99 < 2 else 'MISSED'} ({p99:.3f} s)")


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
    with _stack, bench_database(DATABASE):
        code = main(OPTIONS)
    sys.exit(code)
