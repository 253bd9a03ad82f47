"""The image's web command and HEALTHCHECK, as the Dockerfile writes them, run against a
real gunicorn on the test database with a strict ALLOWED_HOSTS and LOG_FORMAT=json."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, child_env, free_port, wait_until
from tests.service.test_deploy_files import dockerfile_command

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ENV = {
    "ALLOWED_HOSTS": "oncall.example.org",
    "ONCALL_BASE_URL": "https://oncall.example.org",
    "LOG_FORMAT": "json",
    "WEB_CONCURRENCY": "2",
}


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def healthcheck(url: str) -> subprocess.CompletedProcess[str]:
    """The Dockerfile's HEALTHCHECK command, pointed at ``url``."""
    python, *args = dockerfile_command("HEALTHCHECK")
    assert python == "python"
    argv = [sys.executable, *args, url]
    env = child_env(**ENV)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The image's CMD with its bind address moved to a free loopback port."""
    argv = dockerfile_command("CMD")
    assert argv[0] == "gunicorn"
    port = free_port()
    argv = [sys.executable, "-m", *argv]
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("web") / "gunicorn.log"
    with django_db_blocker.unblock():
        env = child_env(**ENV)
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_until(lambda: proc.poll() is not None or status(url) != 0, 30, "gunicorn", log)
        assert proc.poll() is None, log.read_text()[-4000:]
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_image_healthcheck_passes_on_a_healthy_node_despite_strict_allowed_hosts(web):
    url, _ = web

    assert healthcheck(url).returncode == 0
    # Why it sends ONCALL_BASE_URL's host: a bare request is refused by ALLOWED_HOSTS.
    assert status(url) == 400


def test_image_healthcheck_fails_when_nothing_answers():
    result = healthcheck(f"http://127.0.0.1:{free_port()}/healthz")

    assert result.returncode == 1
    assert "healthz" in result.stderr


def test_gunicorn_logs_and_access_log_are_json_lines_with_web_concurrency_workers(web):
    url, log = web
    healthcheck(url)

    def records() -> list[dict[str, str]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    access = wait_until(
        lambda: [r for r in records() if r["logger"] == "gunicorn.access"], 10, "access log", log
    )
    assert "GET /healthz" in access[-1]["message"]
    booted = [r for r in records() if r["message"].startswith("Booting worker")]
    assert len(booted) == 2
    assert {r["logger"] for r in booted} == {"gunicorn.error"}
