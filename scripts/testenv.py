#!/usr/bin/env python3
"""Run a command (the test suite) with PostgreSQL and Redis available.

For each of DATABASE_URL and REDIS_URL: use the variable when it is set, else
the local server on its standard port, else start a throwaway server under a
temporary directory when the binaries exist (stopped again afterwards), else
stop with a message naming what is missing.

    python scripts/testenv.py -- pytest -q
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    for folder in PG_BIN_DIRS:
        if (folder / binary).exists():
            return str(folder / binary)
    return None


def wait_for(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.2)
    sys.exit(f"testenv: {what} did not start on port {port} within {seconds:.0f}s")


def start_postgres(workdir: Path, started: list[subprocess.Popen[bytes]]) -> str:
    initdb, postgres = find("initdb"), find("postgres")
    if not (initdb and postgres):
        sys.exit(
            "testenv: no PostgreSQL on 127.0.0.1:5432 and no initdb/postgres binaries "
            "to start one; install PostgreSQL or set DATABASE_URL=postgres://..."
        )
    data = workdir / "pg"
    data.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(workdir, "postgres")
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    started.append(
        subprocess.Popen(
            [
                *prefix,
                postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_for(port, "PostgreSQL")
    return f"postgres://postgres@127.0.0.1:{port}/oncall"


def start_redis(workdir: Path, started: list[subprocess.Popen[bytes]]) -> str:
    server = find("redis-server")
    if not server:
        sys.exit(
            "testenv: no Redis on 127.0.0.1:6379 and no redis-server binary to start "
            "one; install Redis or set REDIS_URL=redis://..."
        )
    port = free_port()
    started.append(
        subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
    )
    wait_for(port, "Redis")
    return f"redis://127.0.0.1:{port}/0"


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        sys.exit("usage: testenv.py -- COMMAND...")
    env = dict(os.environ)
    started: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="oncall-testenv-"))
    try:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = (
                "postgres://postgres@127.0.0.1:5432/oncall"
                if port_open(5432)
                else start_postgres(workdir, started)
            )
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = (
                "redis://127.0.0.1:6379/0" if port_open(6379) else start_redis(workdir, started)
            )
        print(
            f"testenv: DATABASE_URL={env['DATABASE_URL']} REDIS_URL={env['REDIS_URL']}", flush=True
        )
        return subprocess.call(argv, env=env)
    finally:
        for proc in started:
            proc.terminate()
        for proc in started:
            proc.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
