"""Start the app's real processes (Celery workers, the whole stack) from tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from oncall.celery import app

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


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port; ``stop()`` then ``start()``
    is an outage and a restart on the same port, with nothing kept."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server binary: `apt-get install -y redis-server`")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.proc = subprocess.Popen(  # noqa: S603
            [*argv, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL
        )
        wait_until(lambda: port_open(self.port), 15, "redis-server")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # no goodbye to the clients: as a crash or a network cut
            self.proc.wait(timeout=15)
            self.proc = None


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def producer_on(url: str) -> Iterator[None]:
    """Point this process's Celery app (which queues the ETA tasks when the test opens
    incidents) at ``url``, and back afterwards. Its pools are cached per broker URL."""

    def repoint(broker_url: str) -> None:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = broker_url

    saved = app.conf.broker_url
    repoint(url)
    try:
        yield
    finally:
        repoint(saved)
