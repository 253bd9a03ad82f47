"""``make run``'s command on a laptop set-up: SQLite, no Redis, all processes, clean Ctrl-C."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, child_env, wait_until

pytestmark = pytest.mark.slow


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_runstack_serves_and_stops_every_process_on_ctrl_c(tmp_path, unused_tcp_port):
    env = child_env(
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=None,
        ONCALL_DATA_DIR=str(tmp_path),
        PORT=str(unused_tcp_port),
        WEB_CONCURRENCY="1",
        ONCALL_BASE_URL=None,
    )
    out = tmp_path / "out.log"
    base = f"http://127.0.0.1:{unused_tcp_port}"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _get(f"{base}/healthz")[0] == 200, 120, "/healthz 200", out)
        assert _get(f"{base}/admin/login/")[0] == 200
        assert _get(f"{base}/accounts/login/")[0] == 200  # the web UI's login
        status, body = _get(f"{base}/api/schema/?format=json")
        assert status == 200
        assert any(path.startswith("/api/v1/") for path in json.loads(body)["paths"])
        # Static files are served by the web process itself (whitenoise).
        assert _get(f"{base}/static/admin/css/base.css")[0] == 200
        assert _get(f"{base}/static/oncall/app.css")[0] == 200
        printed = wait_until(
            lambda: "password" in out.read_text() and out.read_text(), 10, "the login line", out
        )
        assert f"{base}/" in printed
        assert {"web", "worker", "beat"} <= set(printed.split("(", 1)[1].split(")")[0].split(", "))
        assert len(_processes_with(str(tmp_path))) >= 4  # runstack, gunicorn, worker, beat
        # The demo's failure escalates: the worker pages the on-call person by e-mail,
        # which the console backend prints.
        wait_until(lambda: "Subject: [oncall]" in out.read_text(), 60, "the demo page", out)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    wait_until(lambda: not _processes_with(str(tmp_path)), 30, "every child to exit", out)


def test_runstack_restarts_a_killed_worker_and_keeps_serving(tmp_path, unused_tcp_port):
    env = child_env(
        DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        REDIS_URL=None,
        ONCALL_DATA_DIR=str(tmp_path),
        PORT=str(unused_tcp_port),
        WEB_CONCURRENCY="1",
        ONCALL_BASE_URL=None,
        ONCALL_DEMO="0",
    )
    out = tmp_path / "out.log"
    base = f"http://127.0.0.1:{unused_tcp_port}"
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def worker_pids() -> list[int]:
        return [int(pid) for pid in re.findall(r"worker started, pid (\d+)", out.read_text())]

    try:
        wait_until(lambda: _get(f"{base}/healthz")[0] == 200, 120, "/healthz 200", out)
        [first] = wait_until(worker_pids, 10, "the worker's pid", out)
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: "worker was killed by signal 9; restarting it in 1 s" in out.read_text(),
            10,
            "the restart notice",
            out,
        )
        assert _get(f"{base}/healthz")[0] == 200  # web was never stopped
        second = wait_until(lambda: worker_pids()[1:], 30, "a new worker", out)[0]
        assert second != first
        wait_until(lambda: "ready." in out.read_text().split(f"pid {second}")[1], 60, "ready", out)
        assert proc.poll() is None
        assert "stopping" not in out.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    wait_until(lambda: not _processes_with(str(tmp_path)), 30, "every child to exit", out)
