"""A Redis outage during a burst of ingest, under the whole stack as ``make run`` runs
it (runstack: gunicorn, a Celery worker and beat), with a throwaway Redis and a real
SMTP server (aiosmtpd). Every event is answered 2xx and stored while Redis is down;
when it is back on the same port every page arrives once, none twice; no process of
the stack stops or is restarted.
"""

import json
import signal
import subprocess
import sys
import urllib.request
from urllib.error import HTTPError

import pytest
from django.conf import settings

from escalation.models import EscalationPolicy, Incident, Notification, Occurrence, Repo
from oncall.models import ApiToken
from tests.escalation.test_reliability import assert_exactly_once
from tests.processes import ROOT, child_env, free_port, redis_server, wait_until
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

COUNT = 20  # events before, during and after the outage each


def post(url: str, token: str, body: object) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode())  # noqa: S310 (loopback)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
            return response.status
    except HTTPError as error:
        return error.code


def healthz(base: str) -> dict:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:  # noqa: S310
            return json.loads(response.read())
    except HTTPError as error:
        return json.loads(error.read())
    except OSError:
        return {}


def sent() -> int:
    return Notification.objects.filter(status=Notification.Status.SENT).count()


def setup_repos(count: int) -> str:
    """A repo per event, each with a policy paging an address of its own at once, and
    a second step in 50 minutes: the worker holds its ETA task through the outage."""
    policies = EscalationPolicy.objects.bulk_create(
        EscalationPolicy(
            slug=f"p{n}",
            name=f"Policy {n}",
            steps=[
                {"wait_seconds": 0, "notify": [{"type": "email", "address": f"r{n}@x.org"}]},
                {"wait_seconds": 3000, "notify": [{"type": "email", "address": "later@x.org"}]},
            ],
        )
        for n in range(count)
    )
    Repo.objects.bulk_create(Repo(name=f"org/r{n}", policy=p) for n, p in enumerate(policies))
    token = ApiToken(name="ci", scopes=["ingest"])
    secret = token.set_new_secret()
    token.save()
    return secret


def test_a_redis_outage_during_a_burst_loses_no_event_and_doubles_no_page(tmp_path):
    token = setup_repos(3 * COUNT)
    smtp = SmtpServer()
    smtp.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = tmp_path / "runstack.log"
    with redis_server(tmp_path) as redis:
        env = child_env(
            REDIS_URL=redis.url,
            EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
            ESCALATION_TICK_SECONDS="1",
            ONCALL_DATA_DIR=str(tmp_path),
            ONCALL_DEMO="0",
            PORT=str(port),
            WEB_CONCURRENCY="2",
            ONCALL_BASE_URL=None,
            SECRET_KEY=settings.SECRET_KEY,
        )
        argv = [sys.executable, "manage.py", "runstack", "--no-migrate"]
        with out.open("wb") as log:
            stack = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: healthz(base).get("worker") == "ok", 120, "the stack", out)

            def burst(start: int) -> list[int]:
                event = {
                    "source": "zuul",
                    "status": "failure",
                    "job": "check",
                    "summary": "Failed.",
                }
                return [
                    post(f"{base}/api/v1/events/", token, {**event, "repo": f"org/r{n}"})
                    for n in range(start, start + COUNT)
                ]

            answers = burst(0)
            wait_until(lambda: sent() >= 1, 60, "the first pages", out)
            redis.stop()
            answers += burst(COUNT)
            assert healthz(base)["broker"] == "down"
            # Every process met the outage: the worker lost Redis, beat could not send.
            wait_until(lambda: "Cannot connect to redis://" in out.read_text(), 30, "worker", out)
            wait_until(lambda: "Couldn't apply scheduled task" in out.read_text(), 30, "beat", out)
            redis.start()  # the same port, empty
            answers += burst(2 * COUNT)
            assert answers == [202] * (3 * COUNT)
            assert Occurrence.objects.count() == 3 * COUNT

            wait_until(lambda: sent() >= 3 * COUNT, 120, "every page after the outage", out)
            wait_until(lambda: len(smtp.messages) >= 3 * COUNT, 30, "the mail", out)
            expected = {
                (f"r{n}@x.org", Incident.objects.get(repo=f"org/r{n}").pk) for n in range(3 * COUNT)
            }
            assert_exactly_once(smtp, expected)
            assert stack.poll() is None
            text = out.read_text()
            assert "restarting it" not in text, "a process of the stack stopped"
            assert "broker unavailable" in text  # the web gave up the wake-ups and said so
        finally:
            stack.send_signal(signal.SIGINT)
            stack.wait(timeout=60)
            smtp.stop()
