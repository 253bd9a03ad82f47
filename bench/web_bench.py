"""Web UI pages through a real gunicorn and PostgreSQL with 500 open incidents.

    .venv/bin/python scripts/testenv.py -- .venv/bin/python bench/web_bench.py

Creates its own database (``oncall_bench_web`` under the configured server,
migrated) and fills it: 3 teams, 6 rotations, 20 repos, 500 unresolved incidents
(a third claimed, some muted), each with a page, a timeline entry and occurrences.
Collects the static files into a scratch folder, starts gunicorn on a free loopback
port, logs in through the login form like a browser, and requests every page
sequentially on one keep-alive connection. Prints median and p99 latency per page,
the response size and the page's queries (counted in-process with Django's test
client). Gunicorn is stopped and the database dropped afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from urllib.parse import urlencode

from common import (  # bench/common.py
    HOST,
    ROOT,
    bench_database,
    free_port,
    print_table,
    process,
)

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")
warnings.filterwarnings("ignore", "No directory at", UserWarning)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from escalation.models import (  # noqa: E402
    EscalationPolicy,
    Incident,
    Notification,
    Occurrence,
    Repo,
    TimelineEntry,
)
from rotations import services  # noqa: E402
from rotations.models import Override, Person, Team  # noqa: E402

DATABASE = "oncall_bench_web"
PASSWORD = "bench-password-not-secret"  # noqa: S105
INCIDENTS = 500
# Queries are counted in this process, which has not collected the static files.
PLAIN_STATIC = override_settings(
    STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
)


def fill(now: datetime) -> dict[str, str]:
    """The data; returns names the page URLs need."""
    people = [
        Person.objects.create(
            handle=f"p{i}", name=f"Person {i}", email=f"p{i}@example.org", timezone="Europe/Berlin"
        )
        for i in range(12)
    ]
    me = people[0]
    me.user = get_user_model().objects.create_user("bench", "bench@example.org", PASSWORD)
    me.save()
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        steps=[
            {"wait_seconds": 0, "notify": [{"type": "repo_oncall", "role": "primary"}]},
            {"wait_seconds": 1800, "notify": [{"type": "repo_oncall", "role": "backup"}]},
        ],
    )
    teams = [Team.objects.create(slug=f"team-{i}", name=f"Team {i}") for i in range(3)]
    rotations = []
    for i in range(6):
        members = [people[(i * 2 + k) % len(people)] for k in range(4)]
        rotation = services.create_rotation(
            slug=f"rotation-{i}",
            name=f"Rotation {i}",
            team=teams[i % 3],
            start=now.date() - timedelta(days=40 + i),
            spec=services.ScheduleSpec(members, 14, clock(9), "Europe/Berlin"),
        )
        for k in range(3):
            start = now + timedelta(days=5 + 9 * k)
            Override.objects.create(
                rotation=rotation, person=people[k], start=start, end=start + timedelta(days=2)
            )
        rotations.append(rotation)
    repos = [
        Repo.objects.create(
            name=f"org/repo-{i}",
            team=teams[i % 3],
            rotation=rotations[i % 6],
            backup_rotation=rotations[(i + 1) % 6],
            policy=policy,
            workflow="# Runbook\n\n1. Read the logs.\n2. See https://docs.example.org/runbook",
        )
        for i in range(20)
    ]
    incidents = Incident.objects.bulk_create(
        Incident(
            dedup_key=f"bench-{n}",
            source="zuul",
            repo=repos[n % 20].name,
            repo_ref=repos[n % 20],
            job=f"periodic-job-{n}",
            pipeline="periodic-hourly",
            result="FAILURE",
            category="job" if n % 4 else "infrastructure",
            summary=f"Build {n} failed.",
            url=f"https://zuul.example.org/build/{n}",
            occurrences=1 + n % 30,
            first_seen=now - timedelta(minutes=3 * n),
            last_seen=now - timedelta(minutes=n),
            state="claimed" if n % 3 == 0 else "open",
            claimed_by=people[n % 12] if n % 3 == 0 else None,
            claimed_at=now - timedelta(minutes=n) if n % 3 == 0 else None,
            muted_until=now + timedelta(hours=2) if n % 10 == 0 else None,
            policy=policy.snapshot(),
            escalation_started_at=now - timedelta(minutes=3 * n),
            next_escalation_at=now + timedelta(minutes=n % 30),
        )
        for n in range(INCIDENTS)
    )
    Notification.objects.bulk_create(
        Notification(
            incident=incident,
            key=f"bench-{incident.pk}",
            kind="page",
            channel="email",
            address=people[1].email,
            person=people[1],
            status="sent",
        )
        for incident in incidents
    )
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, kind=kind, channel="zuul")
        for incident in incidents
        for kind in ("created", "occurred", "escalated")
    )
    Occurrence.objects.bulk_create(
        Occurrence(incident=incident, delivery_key=f"d-{incident.pk}-{k}")
        for incident in incidents
        for k in range(5)
    )
    return {"incident": str(incidents[1].pk), "team": teams[0].slug, "rotation": "rotation-0"}


def pages(names: dict[str, str]) -> dict[str, str]:
    return {
        "incidents (active, 100 of 500)": "/incidents/",
        "incidents ?state=open&team=": f"/incidents/?state=open&team={names['team']}",
        "incidents page 3": "/incidents/?page=3",
        "incident detail": f"/incidents/{names['incident']}/",
        "on call now": "/oncall/",
        "on call ?repo= search": "/oncall/?repo=repo-1",
        "rotation timeline (6 weeks)": f"/rotations/{names['rotation']}/",
        "rotation timeline (26 weeks)": f"/rotations/{names['rotation']}/?weeks=26",
        "coverage": "/coverage/",
        "me": "/me/",
    }


def child_env(data_dir: Path) -> dict[str, str]:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{auth}@{db['HOST'] or HOST}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "oncall.settings",
        "ONCALL_DATA_DIR": str(data_dir),
        "SECRET_KEY": settings.SECRET_KEY,
        "LOG_LEVEL": "WARNING",
    }


class Browser:
    """One keep-alive connection that keeps cookies, like a browser tab."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, extra: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **(extra or {}),
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{HOST}/"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        content = response.read()
        self.headers = response.headers
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, content

    def login(self) -> None:
        status, page = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or match is None:
            sys.exit(f"no login form: {status}")
        form = {
            "csrfmiddlewaretoken": match.group(1).decode(),
            "username": "bench",
            "password": PASSWORD,
        }
        status, _ = self.request("POST", "/accounts/login/", urlencode(form))
        if status != 302 or "sessionid" not in self.cookies:
            sys.exit(f"login failed: {status}")


def wait_for(port: int, log: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"gunicorn did not start:\n{log.read_text()[-3000:]}")


def main(options: argparse.Namespace, workdir: Path) -> int:
    now = datetime.now(UTC)
    names = fill(now)
    env = child_env(workdir)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi", "--bind", f"{HOST}:{port}"]
    argv += ["--workers", str(options.workers), "--access-logfile", "-"]
    log = workdir / "gunicorn.log"
    in_process = Client(HTTP_HOST="localhost")
    in_process.force_login(get_user_model().objects.get(username="bench"))
    table = [["page", "median ms", "p99 ms", "KiB", "queries"]]
    problems = []
    with process(argv, env, log) as proc:
        wait_for(port, log, proc)
        browser = Browser(port)
        browser.login()
        for label, path in pages(names).items():
            for _ in range(options.warmup):
                status, body = browser.request("GET", path)
            if status != 200:
                problems.append(f"{path}: {status}")
                continue
            samples = []
            for _ in range(options.repeat):
                started = time.perf_counter()
                status, body = browser.request("GET", path)
                samples.append(time.perf_counter() - started)
            with PLAIN_STATIC, CaptureQueriesContext(connection) as queries:
                in_process.get(path)
            ordered = sorted(samples)
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
            table.append(
                [
                    label,
                    f"{statistics.median(samples) * 1000:.1f}",
                    f"{p99 * 1000:.1f}",
                    f"{len(body) / 1024:.0f}",
                    str(len(queries)),
                ]
            )
    print_table(table)
    print(
        f"\n{INCIDENTS} unresolved incidents; {options.repeat} sequential requests per page "
        f"after {options.warmup} warm-up; gunicorn {options.workers} sync workers; "
        f"Python {sys.version.split()[0]}, "
        f"PostgreSQL {connection.pg_version // 10000}"  # type: ignore[attr-defined]
    )
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    with bench_database(DATABASE), tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        code = main(options, Path(tmp))
    sys.exit(code)
