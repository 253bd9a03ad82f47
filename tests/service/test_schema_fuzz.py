"""Schemathesis against the live test server: for every operation of ``/api/schema/``,
with an admin and a read token, no answer is a 5xx, every status code is documented and
every body matches its documented schema (issue 12, section 2).

Bounded so it stays a unit of ``make test``: a fixed seed, derandomized, a few examples
per operation, the explicit and generated phases only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, time

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from escalation.models import EscalationPolicy, Repo
from oncall.models import ApiToken
from rotations import services
from rotations.models import Person, Team
from tests.processes import ROOT, child_env, free_port, wait_until

# Asks for the test database; the tests themselves only speak HTTP to the server below.
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# More for a deeper local run: ONCALL_FUZZ_EXAMPLES=200 ONCALL_FUZZ_COVERAGE=1 (the latter
# adds schemathesis' boundary and negative cases, ~140 per operation).
EXAMPLES = int(os.environ.get("ONCALL_FUZZ_EXAMPLES", "5"))
PHASES = (
    [Phase.explicit, Phase.generate] if os.environ.get("ONCALL_FUZZ_COVERAGE") else [Phase.generate]
)


def _token(*scopes: str) -> str:
    token = ApiToken(name="fuzz", scopes=list(scopes))
    secret = token.set_new_secret()
    token.save()
    return secret


def _seed() -> dict[str, str]:
    """A little of everything, so generated requests also hit existing objects."""
    alice = Person.objects.create(handle="alice", name="Alice", email="alice@example.org")
    team = Team.objects.create(slug="ops", name="Ops")
    rotation = services.create_rotation(
        slug="core",
        name="Core",
        team=team,
        start=date(2026, 1, 5),
        spec=services.ScheduleSpec([alice], 14, time(9), "Europe/Berlin"),
    )
    policy = EscalationPolicy.objects.create(
        slug="standard",
        name="Standard",
        is_default=True,
        steps=[{"wait_seconds": 0, "notify": [{"type": "repo_oncall", "role": "primary"}]}],
    )
    Repo.objects.create(name="org/repo", team=team, rotation=rotation, policy=policy)
    return {"admin": _token("admin"), "read": _token("read")}


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/healthz", timeout=2) is not None  # noqa: S310
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[dict[str, str]]:
    """gunicorn on the test database (committed seed data, flushed afterwards), so the
    module pays for one server and one flush rather than one per operation."""
    with django_db_blocker.unblock():
        tokens = _seed()
    port = free_port()
    log = tmp_path_factory.mktemp("fuzz") / "gunicorn.log"
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi"]
    argv += ["--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{port}"]
    # Generous per-token rate limits (ONCALL_RATE_*): the fuzzer is not a storm to refuse.
    env = child_env(
        ONCALL_RATE_API="100000/s", ONCALL_RATE_INGEST="100000/s", GITHUB_WEBHOOK_SECRET=None
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
            try:
                wait_until(lambda: proc.poll() is not None or _answers(url), 30, "gunicorn", log)
                assert proc.poll() is None, log.read_text()[-4000:]
                yield {"url": url, **tokens}
            finally:
                proc.terminate()
                proc.wait(timeout=15)
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


def _served_schema() -> dict:
    """The schema ``GET /api/schema/`` serves (rendered by the same view, in-process:
    pytest collects one test per operation before any server runs)."""
    response = APIClient().get("/api/schema/", {"format": "json"}, HTTP_HOST="localhost")
    assert response.status_code == 200
    return json.loads(response.content)


schema = schemathesis.openapi.from_dict(_served_schema())


BOUNDS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=list(HealthCheck),
)


def _call(case, server: dict[str, str], role: str) -> None:
    case.call_and_validate(
        base_url=server["url"],
        headers={"Authorization": f"Bearer {server[role]}"},
        checks=CHECKS,
    )


@schema.parametrize()
@BOUNDS
def test_admin_token_answers_match_the_schema_and_are_never_server_errors(case, server):
    _call(case, server, "admin")


@schema.parametrize()
@BOUNDS
def test_read_token_answers_match_the_schema_and_are_never_server_errors(case, server):
    _call(case, server, "read")
