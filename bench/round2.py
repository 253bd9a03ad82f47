"""Issue 16 (speed round 2): every aim measured by one command, with pass/miss.

    .venv/bin/python bench/round2.py [--quick] [--only 1,3]

PostgreSQL: ``DATABASE_URL``, else the local server, else a throwaway one (as
scripts/testenv.py starts it); the database ``oncall_bench_round2`` is created and
dropped. Redis: ``REDIS_URL``, else database 8 of the local server, else a throwaway
one; that Redis database is emptied between aims. bench/README.md says what each aim
runs: 1 ingest on ``make run``'s stack (PostgreSQL + Redis) against the raw
``INSERT … ON CONFLICT`` loop, 2 the same embedded (SQLite), 3 on-call lookup, 4 feeds,
5 escalation sweep, 6 incident list, 7 scale-out (two web groups, two workers, a beat).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import secrets
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common import HOST, ROOT, bench_database, port_open, print_table, process, wait_for

sys.path.insert(0, str(ROOT / "scripts"))
import testenv  # noqa: E402  (scripts/testenv.py: throwaway PostgreSQL and Redis)

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="small counts, to check the harness")
parser.add_argument("--only", default="1,2,3,4,5,6,7", help="aims to run, e.g. 1,3")
ARGS = parser.parse_args()
ONLY = {int(n) for n in ARGS.only.split(",")}
WARM, EVENTS = (20, 300) if ARGS.quick else (100, 3000)
CLIENTS = 16
DATABASE = os.environ.get("BENCH_DATABASE", "oncall_bench_round2")  # one per concurrent run

_stack = ExitStack()
WORK = Path(_stack.enter_context(tempfile.TemporaryDirectory(prefix="round2-")))
_servers: list[subprocess.Popen[bytes]] = []  # throwaway PostgreSQL, Redis: stopped first
_stack.callback(lambda: [(server.terminate(), server.wait(30)) for server in _servers])
_given = {k: os.environ[k] for k in ("DATABASE_URL", "REDIS_URL") if os.environ.get(k)}
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = (
        "postgres://postgres@127.0.0.1:5432/postgres"
        if testenv.port_open(5432)
        else testenv.start_postgres(WORK, _servers)
    )
if "REDIS_URL" not in os.environ:
    os.environ["REDIS_URL"] = (
        "redis://127.0.0.1:6379/8"
        if testenv.port_open(6379)
        else testenv.start_redis(WORK, _servers)
    )
os.environ.pop("WEB_CONCURRENCY", None)  # make run's default
os.environ.update(
    ONCALL_DATA_DIR=str(WORK),
    SECRET_KEY=secrets.token_hex(32),  # one for this process and every child
    ONCALL_DEMO="0",
    ONCALL_RATE_INGEST="1000000/s",  # the only limit lifted, as for Grafana OnCall's run
)

try:
    import httpx
except ImportError:
    sys.exit("bench/round2.py measures with httpx: .venv/bin/pip install httpx")
import escalation_bench as eb  # noqa: E402  (sets Django up)
import ingest_bench as ib  # noqa: E402
import redis  # noqa: E402
import rotations_bench as rb  # noqa: E402
import web_bench as wb  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from escalation import engine  # noqa: E402
from escalation.models import Incident, Notification, Repo  # noqa: E402
from escalation.views import repo_oncall  # noqa: E402
from oncall.management.commands.runstack import Command as Runstack  # noqa: E402
from oncall.models import ApiToken  # noqa: E402
from rotations.models import Rotation  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
RESULTS = [["aim", "measure", "figure", "target", "of raw loop", "result"]]
PROBLEMS: list[str] = []
INBOX = eb.Inbox()
os.environ["EMAIL_URL"] = f"smtp://{HOST}:{INBOX.port}"
PY = [sys.executable, str(ROOT / "manage.py")]
SETUP = """
from escalation.models import EscalationPolicy
from oncall.models import ApiToken
EscalationPolicy.objects.create(slug="ops", name="Ops", is_default=True, steps=[
    {"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]}])
token = ApiToken(name="bench", scopes=["ingest"])
secret = token.set_new_secret()
token.save()
print(secret)
"""


def result(aim: int, measure: str, value: float, unit: str, below=None, above=None, raw=None):
    """A row of the table; ``below``/``above`` is the target, ``raw`` the raw loop's rate."""
    target, ok = "", True
    if below is not None:
        target, ok = f"< {below:g} {unit}", value < below
    elif above is not None:
        target, ok = f">= {above:g} {unit}", value >= above
    figure = f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    ratio = f"{value / raw:.1%}" if raw else ""
    RESULTS.append([str(aim), measure, figure, target, ratio, "pass" if ok else "MISS"])


def verdict(aim: int, measure: str, figure: str, target: str, ok: bool) -> None:
    RESULTS.append([str(aim), measure, figure, target, "", "pass" if ok else "MISS"])


def check(ok: bool, problem: str) -> None:
    if not ok:
        PROBLEMS.append(problem)


def clean() -> None:
    """An empty database and Redis database between aims."""
    call_command("flush", interactive=False, verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": ib.database_url(), **extra}


def manage(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [*PY, *argv], env=env, cwd=ROOT, check=True, capture_output=True, text=True, timeout=300
    )
    return done.stdout


def web_argv(port: int) -> list[str]:
    """runstack's web process, bound to ``port``."""
    argv = Runstack().processes()["web"]
    argv[argv.index("--bind") + 1] = f"{HOST}:{port}"
    return argv


@contextmanager
def runstack(env: dict[str, str], log: Path) -> Iterator[str]:
    """``make run``'s stack (web, worker, beat) on ``env``; yields the events URL."""
    port = testenv.free_port()
    env = {**env, "HOST": HOST, "PORT": str(port)}
    with process([*PY, "runstack", "--no-migrate"], env, log):
        wait_for(lambda: port_open(port), 120, "runstack's web", log)
        wait_for(lambda: "ready." in log.read_text(), 120, "runstack's worker", log)
        yield f"http://{HOST}:{port}/api/v1/events/"


# Ingestion from outside: httpx, 16 requests at a time --------------------------------


async def drive(name: str, urls: list[str], token: str, body: Callable[[int], bytes], count: int):
    """``count`` posts, CLIENTS at a time, spread over ``urls``; (phase, locked answers)."""
    phase, locked = ib.Phase(name), Counter()
    numbers = iter(range(count))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            for n in numbers:
                began = time.perf_counter()
                try:
                    answer = await client.post(urls[i % len(urls)], content=body(n))
                    phase.statuses[answer.status_code] += 1
                    locked["n"] += b"database is locked" in answer.content
                except httpx.HTTPError as error:
                    phase.statuses[type(error).__name__] += 1
                phase.latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(CLIENTS)))
        phase.seconds = time.perf_counter() - began
    return phase, locked["n"]


def ingest(urls: list[str], token: str) -> tuple[ib.Phase, ib.Phase, int]:
    """Warm-up, storm, distinct; (storm, distinct, answers saying database is locked)."""
    warm, _ = asyncio.run(drive("warm", urls, token, lambda n: ib.event(n, f"w:{n % 4}"), WARM))
    check(not warm.errors, f"warm-up: {dict(warm.statuses)}")
    storm, a = asyncio.run(drive("storm", urls, token, lambda n: ib.event(n, "r2:storm"), EVENTS))
    new, b = asyncio.run(
        drive("distinct", urls, token, lambda n: ib.event(n, f"r2:new:{n}"), EVENTS)
    )
    for phase in (storm, new):
        print(f"  {phase.name}: {phase.rate:,.0f} req/s, answers {dict(phase.statuses)}")
        check(not phase.errors, f"{phase.name}: {dict(phase.statuses)}")
    return storm, new, a + b


def stored(cursor) -> tuple[list[int], int, int]:
    """The storm incident's occurrences; distinct incidents stored, and scheduled."""
    table = Incident._meta.db_table
    cursor.execute(f"SELECT occurrences FROM {table} WHERE dedup_key = 'r2:storm'")  # noqa: S608
    storm = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"SELECT count(*), count(escalation_started_at) FROM {table} "  # noqa: S608
        "WHERE dedup_key LIKE 'r2:new:%'"
    )
    new, scheduled = cursor.fetchone()
    return storm, new, scheduled


def report_ingest(aim: int, storm, new, counts, raw=(None, None), storm_target=1000):
    occurrences, incidents, scheduled = counts
    exact = occurrences == [storm.accepted] and incidents == scheduled == new.accepted
    print(f"  stored: storm occurrences {occurrences} of {storm.accepted} accepted; distinct")
    print(f"  {incidents} incidents, {scheduled} scheduled, of {new.accepted} accepted")
    check(exact, f"aim {aim}: stored counts are not exact")
    stored_rate = scheduled / new.seconds if new.seconds and exact else 0.0
    storm_rate = storm.rate if exact else 0.0
    result(aim, "storm accepted+stored", storm_rate, "/s", above=storm_target, raw=raw[0])
    result(aim, "storm p99", storm.quantile_ms(0.99), "ms", below=50)
    result(aim, "storm p50", storm.quantile_ms(0.5), "ms")
    aimed = aim != 2  # the embedded default has a storm target only
    result(
        aim,
        "distinct stored+scheduled",
        stored_rate,
        "/s",
        above=300 if aimed else None,
        raw=raw[1],
    )
    result(aim, "distinct p99", new.quantile_ms(0.99), "ms", below=50 if aimed else None)
    result(aim, "distinct p50", new.quantile_ms(0.5), "ms")


def aim1() -> None:
    token = manage(child_env(), "shell", "-c", SETUP).split()[-1]
    with runstack(child_env(), WORK / "runstack-pg.log") as url:
        storm, new, _ = ingest([url], token)
    ib.create_floor_table()
    raw = [
        ib.run_clients(name, CLIENTS, 600, EVENTS, ib.floor_worker(key))
        for name, key in (("raw storm", lambda n: "f:storm"), ("raw distinct", lambda n: f"f:{n}"))
    ]
    for phase in raw:
        print(
            f"  {phase.name}: {phase.rate:,.0f} statements/s, p99 {phase.quantile_ms(0.99):.1f} ms"
        )
    check(ib.floor_count("f:storm") == EVENTS, "raw loop: lost counts")
    report_ingest(1, storm, new, stored(connection.cursor()), (raw[0].rate, raw[1].rate))


def aim2() -> None:
    data = WORK / "embedded"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["ONCALL_DATA_DIR"] = str(data)
    manage(env, "migrate", "-v", "0")
    token = manage(env, "shell", "-c", SETUP).split()[-1]
    log = WORK / "runstack-sqlite.log"
    with runstack(env, log) as url:
        storm, new, locked_answers = ingest([url], token)
    locked_log = log.read_text().count("database is locked")
    with sqlite3.connect(data / "db.sqlite3") as db:
        counts = stored(db.cursor())
    report_ingest(2, storm, new, counts, storm_target=200)
    locked = locked_answers + locked_log
    print(f"  database is locked: {locked_answers} answers, {locked_log} log lines")
    verdict(2, "'database is locked'", str(locked), "0", not locked)


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside (whatever resets Django's query log)."""
    seen: list[str] = []

    def note(execute, sql, params, many, context):  # noqa: ANN001
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        yield seen


def median_ms(run: Callable[[], object], times: int) -> tuple[float, int]:
    """Median of ``times`` runs after one warm-up, and the queries of one run."""
    with statements() as queries:
        run()
    return rb.median_ms(run, times), len(queries)


def aim3() -> None:
    now = datetime.now(UTC)
    rb.thousand_rotations(now.date())
    rotations = list(Rotation.objects.order_by("pk"))
    Repo.objects.bulk_create(
        Repo(name=f"org/r{i}", rotation=r, backup_rotation=rotations[(i + 1) % len(rotations)])
        for i, r in enumerate(rotations)
    )
    names = [f"org/r{i}" for i in range(len(rotations))]
    samples = []
    for name in names:
        began = time.perf_counter()
        repo_oncall(name, now)
        samples.append(time.perf_counter() - began)
    with statements() as queries:
        repo_oncall(names[0], now)
    ms = statistics.median(samples) * 1000
    print(f"  lookup: {ms:.2f} ms median of {len(names)} repos, {len(queries)} queries")
    result(3, f"oncall ?repo= lookup ({len(queries)} queries)", ms, "ms", below=2)
    token = ApiToken(name="read", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token.set_new_secret()}", HTTP_HOST=HOST)
    token.save()
    names_iter = iter(names * 2)

    def get() -> None:
        answer = client.get("/api/v1/oncall/", {"repo": next(names_iter)})
        assert answer.status_code == 200, answer.content

    with override_settings(ONCALL_RATE_API="1000000/s"):  # one client asking 500 times
        ms, count = median_ms(get, 500)
    result(3, f"GET /api/v1/oncall/?repo= ({count} queries)", ms, "ms")


def aim4() -> None:
    today = datetime.now(UTC).date()
    person = rb.feed_case("person", rb.person_in_20_rotations(today), 10 if ARGS.quick else 30)
    rotation = rb.feed_case("rotation", rb.rotation_with_15_events(today), 30)
    for label, row, target in (
        ("person feed uncached", person[0], 30),
        ("person feed cached", person[1], 5),
        ("rotation feed uncached", rotation[0], 5),
    ):
        measure = f"{label} ({row[1]} events, {row[2]} queries to render)"
        result(4, measure, float(row[3]), "ms", below=target)


def aim5() -> None:
    if ARGS.quick:
        eb.INCIDENTS, eb.DUE = 2000, 200
    eb.fill(datetime.now(UTC))
    with statements() as queries:
        began = time.perf_counter()
        advanced = engine.sweep()["advanced"]
        seconds = time.perf_counter() - began
    check(advanced == eb.DUE, f"sweep advanced {advanced} of {eb.DUE}")
    print(f"  sweep: {advanced} advanced in {seconds:.2f} s, {len(queries)} statements")
    measure = f"sweep {eb.DUE:,} due of {eb.INCIDENTS:,} ({len(queries)} statements)"
    result(5, measure, seconds * 1000 if advanced == eb.DUE else float("inf"), "ms", below=1000)


def aim6() -> None:
    wb.fill(datetime.now(UTC))
    manage(child_env(), "collectstatic", "--noinput", "-v", "0")
    port = testenv.free_port()
    log = WORK / "gunicorn-web.log"
    with process(web_argv(port), child_env(), log):
        wait_for(lambda: port_open(port), 60, "gunicorn", log)
        browser = wb.Browser(port)
        browser.login()
        gz = {"Accept-Encoding": "gzip"}
        samples = []
        for n in range(5 + (10 if ARGS.quick else 50)):
            began = time.perf_counter()
            status, body = browser.request("GET", "/incidents/", extra=gz)
            if n >= 5:
                samples.append(time.perf_counter() - began)
        check(status == 200, f"/incidents/ answered {status}")
        zipped = browser.headers.get("Content-Encoding") == "gzip"
    size = len(gzip.decompress(body)) if zipped else len(body)
    ms = statistics.median(samples) * 1000
    print(f"  /incidents/: {ms:.1f} ms, {size / 1024:.0f} KiB, sent {len(body) / 1024:.0f} KiB")
    result(6, "incident list (500 unresolved) median", ms, "ms", below=50)
    measure = f"gzip: {size / 1024:.0f} KiB sent as {len(body) / 1024:.0f} KiB"
    verdict(6, measure, "yes" if zipped else "no", "yes", zipped)


def aim7() -> None:
    INBOX.first.clear()  # incident ids start at 1 again in every aim
    INBOX.mails.clear()
    INBOX.messages = 0
    env = child_env()
    token = manage(env, "shell", "-c", SETUP).split()[-1]
    n = 10 if ARGS.quick else 50
    eb.people_with_policies("f", n)
    eb.people_with_policies("g", n)
    manage(env, "collectstatic", "--noinput", "-v", "0")
    ports = [testenv.free_port(), testenv.free_port()]
    procs = Runstack().processes()
    with ExitStack() as stack:
        for i, port in enumerate(ports):
            stack.enter_context(process(web_argv(port), env, WORK / f"web{i}.log"))
            worker = [*procs["worker"], "--hostname", f"w{i}@%h"]
            stack.enter_context(process(worker, env, WORK / f"worker{i}.log"))
        stack.enter_context(process(procs["beat"], env, WORK / "beat.log"))
        for i, port in enumerate(ports):
            wait_for(lambda p=port: port_open(p), 60, f"web {i}", WORK / f"web{i}.log")
            wait_for(lambda i=i: "ready." in (WORK / f"worker{i}.log").read_text(), 60, "worker")
        # First pages on the idle stack (after the storm they queue behind its pages).
        answered = eb.post_events(ports[0], token, "f", n, 0.1)
        answered |= eb.post_events(ports[1], token, "g", n, 0.1)
        row, _ = eb.measured("first page", answered, INBOX)
        storm, new, _ = ingest([f"http://{HOST}:{p}/api/v1/events/" for p in ports], token)
        deadline = time.monotonic() + 900  # the workers page every incident
        unsent = Notification.objects.exclude(status__in=("sent", "failed"))
        while unsent.exists() and time.monotonic() < deadline:
            time.sleep(1)
    report_ingest(7, storm, new, stored(connection.cursor()))
    p99 = float(row[5]) if row[5] and row[-1] == "0" else float("inf")  # inf: some never paged
    result(7, f"first page p99 ({row[2]} of {row[1]} paged)", p99 * 1000, "ms", below=1000)
    pages = Notification.objects.filter(kind=Notification.Kind.PAGE)
    twice = pages.values("incident", "step").annotate(n=Count("id")).filter(n__gt=1).count()
    unpaged = Incident.objects.filter(pages=True).exclude(notifications__kind="page").count()
    mailed_twice = sum(1 for count in INBOX.mails.values() if count > 1)
    left = unsent.count()
    failed = pages.filter(status=Notification.Status.FAILED)
    why = list(failed.values_list("error", flat=True)[:1])
    print(f"  {pages.count()} pages for {Incident.objects.count()} incidents: {left} unsent,")
    print(f"  {failed.count()} failed {why}; {INBOX.messages} mails listing")
    print(f"  {len(INBOX.mails)} incidents; {twice} (incident, step) twice in the database,")
    print(f"  {mailed_twice} incidents mailed twice")
    figure = f"{twice + mailed_twice} / {unpaged} / {left} / {failed.count()}"
    ok = not twice + mailed_twice + unpaged + left + failed.count()
    verdict(7, "doubled / unpaged / unsent / failed", figure, "0 / 0 / 0 / 0", ok)


def main() -> int:
    given = " ".join(f"{k}={shlex.quote(v)}" for k, v in _given.items())
    command = f"{given} .venv/bin/python bench/round2.py {shlex.join(sys.argv[1:])}".strip()
    print(f"repeat: cd {ROOT} && {command}")
    print(f"servers: DATABASE_URL={os.environ['DATABASE_URL']} REDIS_URL={os.environ['REDIS_URL']}")
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    INBOX.controller.start()
    began = time.monotonic()
    with bench_database(DATABASE):
        for aim in sorted(ONLY):
            print(f"aim {aim} ...", flush=True)
            clean()
            started = time.monotonic()
            globals()[f"aim{aim}"]()
            print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    INBOX.controller.stop()
    print()
    print_table(RESULTS)
    print(f"\n{time.monotonic() - began:.0f} s; load at the end: {os.getloadavg()}")
    for problem in PROBLEMS:
        print(f"PROBLEM: {problem}")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    with _stack:
        code = main()
    sys.exit(code)
