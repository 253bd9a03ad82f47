"""Start the app's real processes (Celery workers, the whole stack) from tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection
from kombu import pools

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
        # kombu keeps its pools in a registry per URL: closing only the app's pool left
        # a closed pool registered for the suite's own broker ("Acquire on closed pool"
        # in later tests). Reset the registry instead.
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = broker_url

    saved = app.conf.broker_url
    repoint(url)
    try:
        yield
    finally:
        repoint(saved)


class PostgresServer:
    """A throwaway PostgreSQL cluster on a free loopback port; ``stop()`` is an immediate
    shutdown (as a crash: every connection is cut), ``start()`` the same cluster again."""

    def __init__(self) -> None:
        initdb, self.postgres = shutil.which("initdb"), shutil.which("postgres")
        if not (initdb and self.postgres):
            raise RuntimeError("no initdb/postgres binaries: install PostgreSQL")
        # Not under pytest's tmp_path: PostgreSQL refuses root, and its user must reach it.
        self.workdir = Path(tempfile.mkdtemp(prefix="oncall-pg-"))
        self.data = self.workdir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run(  # noqa: S603
            [*self.prefix, initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust"]
            + ["--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PostgresServer:
        argv = [self.postgres or "postgres", "-D", str(self.data), "-p", str(self.port)]
        argv += ["-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        self.proc = subprocess.Popen(  # noqa: S603
            [*self.prefix, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: port_open(self.port), 30, "PostgreSQL")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            # SIGQUIT to the postmaster: immediate shutdown, as ``pg_ctl stop -m immediate``.
            os.kill(self.postmaster_pid(), signal.SIGQUIT)
            self.proc.wait(timeout=30)
            self.proc = None
            wait_until(lambda: not port_open(self.port), 30, "PostgreSQL to stop")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@contextmanager
def web_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn with the app, as ``make run`` starts it; yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "1", "--access-logfile", "-"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        wait_until(lambda: port_open(port), 60, "gunicorn", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
