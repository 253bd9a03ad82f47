"""Start the app's real processes (Celery workers, the whole stack) from tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on loopback, for a throwaway server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**overrides: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in overrides}
    env.update({key: value for key, value in overrides.items() if value is not None})
    if "DATABASE_URL" not in overrides:
        env["DATABASE_URL"] = database_url()
    env["DJANGO_SETTINGS_MODULE"] = "oncall.settings"
    # Test bursts are faster than any bot (tests/conftest.py does the same in process).
    for name in ("ONCALL_RATE_INGEST", "ONCALL_RATE_API"):
        env.setdefault(name, "100000/s")
    return env


@contextmanager
def celery_worker(queues: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "oncall",
        "worker",
        "--pool",
        "solo",
        "--queues",
        queues,
        "--loglevel",
        "info",
        "--without-mingle",
        "--without-gossip",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(check: Callable[[], object], seconds: float, what: str, log: Path | None = None):
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and the log)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    detail = f"\n--- log ---\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    raise AssertionError(f"timed out after {seconds}s waiting for {what}{detail}")
