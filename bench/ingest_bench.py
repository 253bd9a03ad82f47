"""Ingestion throughput and latency through a real gunicorn, against the physical floor.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/ingest_bench.py

Creates its own database (``oncall_bench_ingest`` under the configured server,
migrated), starts gunicorn on a free loopback port with an ``ingest`` token made by
``manage.py create_api_token``, and drives ``POST /api/v1/events/`` from 16 client
threads with keep-alive connections:

- storm: the same failure over and over (one incident, every event an occurrence);
- distinct: every event a new failure (a new dedup key, so a new incident).

The floor is what PostgreSQL itself needs for the same counting: 16 threads, one
connection each, ``INSERT … ON CONFLICT (dedup_key) DO UPDATE SET occurrences =
t.occurrences + 1`` into a scratch table, one transaction per event, duplicate and
distinct. ``ratio`` is our cost per event over the floor's (floor events/s ÷ ours).
At the end the storm incident's ``occurrences`` must equal the storm's accepted
events. Gunicorn is stopped and the database dropped afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from common import HOST, ROOT, bench_database, free_port, print_table  # bench/common.py

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")
warnings.filterwarnings("ignore", "No directory at", UserWarning)  # no collectstatic here

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from escalation.models import Incident  # noqa: E402

DATABASE = "oncall_bench_ingest"
FLOOR_TABLE = "bench_floor_incident"


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return self.statuses[202] + self.statuses["ok"]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in (202, "ok"))


def run_clients(
    name: str,
    clients: int,
    seconds: float,
    limit: int,
    make_worker: Callable[[], Callable[[int], object]],
) -> Phase:
    """``clients`` threads, released together, each calling its worker on event numbers
    0, 1, 2, … (shared) until ``seconds`` passed or ``limit`` events were taken."""
    phase = Phase(name)
    numbers = itertools.count()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = 0.0

    def client() -> None:
        work = make_worker()
        latencies: list[float] = []
        statuses: Counter = Counter()
        start.wait()
        while time.monotonic() < deadline:
            with lock:
                n = next(numbers)
            if n >= limit:
                break
            began = time.perf_counter()
            try:
                statuses[work(n)] += 1
            except Exception as error:  # noqa: BLE001 - counted and shown as an error
                statuses[type(error).__name__] += 1
            latencies.append(time.perf_counter() - began)
        with lock:
            phase.latencies.extend(latencies)
            phase.statuses.update(statuses)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    phase.seconds = time.perf_counter() - began
    return phase


# The server ------------------------------------------------------------------------------


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or HOST}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "oncall.settings",
    }


def create_token() -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "bench", "--scope", "ingest"],
        cwd=ROOT,
        env=child_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def gunicorn(port: int, workers: int, threads: int, log: Path) -> Iterator[None]:
    options = f"--bind {HOST}:{port} --workers {workers} --threads {threads} --graceful-timeout 5"
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi", *options.split()]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=child_env(), stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 30
            while not answers(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def poster(port: int, token: str, body: Callable[[int], bytes]) -> Callable[[], Callable]:
    """A factory of per-thread senders, each on its own keep-alive connection."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def make() -> Callable[[int], object]:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)

        def send(n: int) -> object:
            try:
                conn.request("POST", "/api/v1/events/", body=body(n), headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status
            except (OSError, http.client.HTTPException):
                conn.close()  # reconnects on the next request
                raise

        return send

    return make


def event(n: int, dedup_key: str) -> bytes:
    return json.dumps(event_body(n, dedup_key)).encode()


def batch(n: int, dedup_key: str, size: int) -> bytes:
    """``size`` events in one request (a Zuul buildset or a bot's batch)."""
    return json.dumps([event_body(n * size + i, dedup_key) for i in range(size)]).encode()


def event_body(n: int, dedup_key: str) -> dict[str, object]:
    return {
        "source": "zuul",
        "status": "failure",
        "repo": "SovereignCloudStack/standards",
        "job": "scs-check-gx-scs-main",
        "pipeline": "periodic-hourly",
        "branch": "main",
        "result": "FAILURE",
        "summary": f"Build failed ({n}).",
        "dedup_key": dedup_key,
        "url": f"https://zuul.example.org/t/scs/build/{n}",
        "labels": {"cloud": "gx-scs"},
    }


# The floor -------------------------------------------------------------------------------


def conninfo() -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or HOST,
        port=db["PORT"] or 5432,
    )


def floor_worker(key: Callable[[int], str]) -> Callable[[], Callable[[int], object]]:
    sql = (
        f"INSERT INTO {FLOOR_TABLE} AS t (dedup_key, occurrences, last_seen) "  # noqa: S608
        "VALUES (%s, 1, now()) ON CONFLICT (dedup_key) "
        "DO UPDATE SET occurrences = t.occurrences + 1, last_seen = now()"
    )

    def make() -> Callable[[int], object]:
        conn = psycopg.connect(conninfo(), autocommit=True)  # one transaction per event

        def run(n: int) -> object:
            conn.execute(sql, (key(n),))
            return "ok"

        return run

    return make


def create_floor_table() -> None:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {FLOOR_TABLE} (id bigserial PRIMARY KEY, "
            "dedup_key varchar(500) NOT NULL UNIQUE, occurrences integer NOT NULL, "
            "last_seen timestamptz NOT NULL)"
        )


def floor_count(key: str) -> int:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        row = conn.execute(
            f"SELECT occurrences FROM {FLOOR_TABLE} WHERE dedup_key = %s",  # noqa: S608
            (key,),
        ).fetchone()
        return row[0] if row else 0


def queries_per_event(token: str) -> dict[str, int]:
    """SQL statements of one delivery, new and repeated, run in-process on a key of its own."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST=HOST)
    counts = {}
    for probe in ("new", "repeat"):
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/events/", event(0, "bench:probe"), content_type="application/json"
            )
        assert response.status_code == 202, response.content
        counts[probe] = len(captured)
    return counts


# The run ---------------------------------------------------------------------------------


def main(args: argparse.Namespace, workdir: Path) -> int:
    port = free_port()
    token = create_token()
    create_floor_table()
    storm_key = "bench:storm"
    with gunicorn(port, args.workers, args.threads, workdir / "gunicorn.log"):
        warm = run_clients(
            "warm-up",
            args.clients,
            2,
            200,
            poster(port, token, lambda n: event(n, f"bench:warm:{n % 4}")),
        )
        if warm.errors:
            print(f"warm-up errors: {dict(warm.statuses)}", file=sys.stderr)
        storm = run_clients(
            "duplicate storm",
            args.clients,
            args.seconds,
            args.limit,
            poster(port, token, lambda n: event(n, storm_key)),
        )
        batched = run_clients(
            f"storm, {args.batch} per request",
            args.clients,
            args.seconds,
            args.limit // args.batch,
            poster(port, token, lambda n: batch(n, storm_key, args.batch)),
        )
        distinct = run_clients(
            "distinct failures",
            args.clients,
            args.seconds,
            args.limit,
            poster(port, token, lambda n: event(n, f"bench:new:{n}")),
        )
    floor_dup = run_clients(
        "floor duplicate",
        args.clients,
        args.floor_seconds,
        10**9,
        floor_worker(lambda n: "floor:storm"),
    )
    floor_new = run_clients(
        "floor distinct",
        args.clients,
        args.floor_seconds,
        10**9,
        floor_worker(lambda n: f"floor:new:{n}"),
    )

    queries = queries_per_event(token)
    rows = [["case", "events", "errors", "events/s", "p50 ms", "p99 ms", "ratio", "queries"]]
    for ours, floor, probe in ((storm, floor_dup, "repeat"), (distinct, floor_new, "new")):
        for phase in (ours, floor):
            ratio = f"{floor.rate / ours.rate:.1f}x" if phase is ours and ours.rate else ""
            rows.append(
                [
                    phase.name,
                    str(len(phase.latencies)),
                    str(phase.errors),
                    f"{phase.rate:,.0f}",
                    f"{phase.quantile_ms(0.50):.2f}",
                    f"{phase.quantile_ms(0.99):.2f}",
                    ratio,
                    str(queries[probe]) if phase is ours else "1",
                ]
            )
    rows.insert(
        3,
        [
            batched.name,
            str(len(batched.latencies) * args.batch),
            str(batched.errors),
            f"{batched.rate * args.batch:,.0f}",
            f"{batched.quantile_ms(0.50):.2f}",
            f"{batched.quantile_ms(0.99):.2f}",
            f"{floor_dup.rate / (batched.rate * args.batch):.1f}x" if batched.rate else "",
            "",
        ],
    )
    print_table(rows)

    problems = []
    stored = Incident.objects.filter(dedup_key=storm_key).values_list("occurrences", flat=True)
    storm_events = storm.accepted + batched.accepted * args.batch
    if list(stored) != [storm_events]:
        problems.append(f"storm: {storm_events} accepted but occurrences {list(stored)}")
    opened = Incident.objects.filter(dedup_key__startswith="bench:new:").count()
    if opened != distinct.accepted:
        problems.append(f"distinct: {distinct.accepted} accepted but {opened} incidents")
    if floor_count("floor:storm") != len(floor_dup.latencies):
        problems.append("floor: lost counts")
    for phase in (storm, batched, distinct, floor_dup, floor_new):
        if phase.errors:
            problems.append(f"{phase.name}: {dict(phase.statuses)}")
    print(
        f"\nstorm incident occurrences = {list(stored)}, accepted = {storm_events}; "
        f"distinct incidents = {opened}, accepted = {distinct.accepted}"
    )
    print(
        f"gunicorn {args.workers} workers x {args.threads} threads, {args.clients} clients, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"PostgreSQL {connection.pg_version // 10000}"  # type: ignore[attr-defined]
    )
    print("ratio = floor events/s ÷ ours (our cost per event over the floor's)")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if problems:
        print((workdir / "gunicorn.log").read_text()[-3000:], file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="per ingestion case")
    parser.add_argument("--limit", type=int, default=20_000, help="events per ingestion case")
    parser.add_argument("--floor-seconds", type=float, default=5, help="per floor case")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=20, help="events per batched request")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help=">1 uses gthread workers")
    options = parser.parse_args()
    with bench_database(DATABASE), tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        code = main(options, Path(tmp))
    sys.exit(code)
