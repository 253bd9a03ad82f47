"""A token revoked in the database is refused at once by every server process
(docs/api.md, "Tokens and scopes"), whatever that process served before and whether or
not Redis is up."""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from django.utils import timezone

from oncall.models import ApiToken
from tests.processes import ROOT, child_env, free_port, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Address = tuple[str, int]


def status(address: Address, path: str, secret: str | None = None) -> int:
    conn = http.client.HTTPConnection(*address, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


@contextmanager
def gunicorn(log: Path, **env: str | None) -> Iterator[Address]:
    """One gunicorn process (one worker) on a free loopback port, on the test database."""
    address = ("127.0.0.1", free_port())
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "oncall.wsgi",
        "--workers",
        "1",
        "--bind",
        f"{address[0]}:{address[1]}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=child_env(**env), cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_until(
            lambda: proc.poll() is not None or status(address, "/healthz") != 0, 30, "gunicorn", log
        )
        assert proc.poll() is None, log.read_text()[-4000:]
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "redis_url",
    [None, f"redis://127.0.0.1:{free_port()}/0"],
    ids=["redis-as-configured", "redis-unreachable"],
)
def test_revoked_token_is_refused_at_once_by_every_process(tmp_path, redis_url):
    token = ApiToken(name="bot", scopes=["read"])
    secret = token.set_new_secret()
    token.save()
    env = {"REDIS_URL": redis_url} if redis_url else {}
    with ExitStack() as stack:
        servers = [stack.enter_context(gunicorn(tmp_path / f"web{i}.log", **env)) for i in (1, 2)]
        # Each process serves the token first, so each has seen it valid.
        assert [status(s, "/api/v1/people/", secret) for s in servers] == [200, 200]

        # Revoked by another process, through the database only (no signal, no cache).
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

        assert [status(s, "/api/v1/people/", secret) for s in servers] == [401, 401]
