"""A Redis outage in the web process: ingest, the API and feeds keep working from the
database, the cache reads as empty, wake-ups are given up at once and left to the sweep.

Redis here is a throwaway ``redis-server`` that the test kills, as a crash would; the
whole stack through an outage is in tests/e2e/test_outage.py.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import cache
from django.db import connections

from escalation.models import Incident, Notification, Occurrence
from escalation.tasks import sweep
from oncall import enqueue as enqueue_module
from oncall.enqueue import enqueue
from rotations import feeds
from tests.escalation.conftest import FAILURE
from tests.processes import RedisServer, producer_on, redis_server

EVENTS = "/api/v1/events/"


@pytest.fixture
def outage_redis(tmp_path, settings) -> Iterator[RedisServer]:
    """Cache and broker of this process on a Redis of the test's own."""
    # The settings of a deployment with REDIS_URL (as the suite runs) use this backend.
    assert settings.CACHES["default"]["BACKEND"] == "oncall.cache.TolerantRedisCache"
    settings.ESCALATION_TICK_SECONDS = 1  # the sweep's grace for a lost wake-up
    with redis_server(tmp_path) as server:
        settings.CACHES = {
            "default": {
                **settings.CACHES.get("default", {}),
                "BACKEND": "oncall.cache.TolerantRedisCache",
                "LOCATION": server.url,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        with producer_on(server.url):
            enqueue_module._down_until = 0.0
            yield server
        enqueue_module._down_until = 0.0


def queued(server: RedisServer, *queues: str) -> int:
    client = redis.Redis.from_url(server.url)
    names = queues or ("default", "escalation", "notify")
    return sum(int(client.llen(queue)) for queue in names)


@pytest.mark.django_db(transaction=True)
def test_ingest_stores_every_event_and_answers_202_while_redis_is_down(
    outage_redis, repo, token_client, caplog, monkeypatch
):
    monkeypatch.setattr(enqueue_module, "RETRY_SECONDS", 600.0)  # the burst is within it
    ingest = token_client("ingest")
    assert ingest.post(EVENTS, FAILURE, format="json").status_code == 202
    assert queued(outage_redis) > 0, "with Redis up, the first page is queued at once"
    outage_redis.stop()

    with caplog.at_level(logging.WARNING, logger="oncall"):
        answers = [
            ingest.post(EVENTS, {**FAILURE, "job": f"job-{n}"}, format="json").status_code
            for n in range(10)
        ]
    assert answers == [202] * 10
    assert Incident.objects.count() == 11
    assert Occurrence.objects.count() == 11
    # Every incident waits for the sweep to page; the broker was tried once, not per event.
    assert Incident.objects.filter(next_escalation_at__isnull=False).count() == 11
    failures = [r for r in caplog.records if "broker unavailable" in r.getMessage()]
    assert len(failures) == 1
    assert "cache unavailable" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_reads_and_feeds_answer_while_redis_is_down(outage_redis, repo, token_client, client):
    ingest = token_client("ingest")
    assert ingest.post(EVENTS, FAILURE, format="json").status_code == 202
    secret = feeds.issue_token(repo.rotation)
    assert client.get(f"/ical/{secret}.ics").status_code == 200  # cached in Redis now
    outage_redis.stop()

    assert token_client("read").get("/api/v1/incidents/").json()["count"] == 1
    response = client.get(f"/ical/{secret}.ics")
    assert response.status_code == 200
    assert b"BEGIN:VCALENDAR" in response.content


@pytest.mark.django_db(transaction=True)
def test_cache_answers_as_an_empty_cache_during_an_outage_and_is_used_again_after(
    outage_redis, monkeypatch
):
    from oncall import cache as tolerant

    monkeypatch.setattr(tolerant, "RETRY_SECONDS", 0.0)  # try Redis again at once
    cache.set("k", 1)
    assert cache.get("k") == 1
    outage_redis.stop()

    # As an empty Redis that forgets every write: nothing raises.
    assert cache.get("k", "miss") == "miss"
    assert cache.add("k", 2) is True
    cache.set("k", 3)
    assert cache.get("k") is None
    assert cache.incr("k", 5) == 5  # a rate-limit counter counts one request
    assert cache.get_many(["k"]) == {}
    assert cache.delete("k") is False

    outage_redis.start()  # empty, on the same port
    cache.set("k", 4)
    assert cache.get("k") == 4
    assert cache.incr("k") == 5


@pytest.mark.django_db(transaction=True)
def test_wakeups_lost_in_an_outage_are_done_by_the_sweep_when_redis_is_back(
    outage_redis, repo, token_client, monkeypatch
):
    monkeypatch.setattr(enqueue_module, "RETRY_SECONDS", 0.0)  # try again at once
    outage_redis.stop()
    assert token_client("ingest").post(EVENTS, FAILURE, format="json").status_code == 202
    outage_redis.start()  # empty: the wake-up of the new incident is gone
    assert queued(outage_redis) == 0

    assert sweep()["advanced"] == 1  # beat's sweep, run here as a worker runs it
    assert Notification.objects.filter(status="pending").count() == 1
    assert queued(outage_redis, "notify") == 1, "the page's delivery is queued"
    assert enqueue(sweep) is True


class HungServer:
    """Accepts connections and never answers: a Redis that hangs (or a black hole)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.held: list[socket.socket] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.sock.accept()[0])

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_does_not_hold_ingest(repo, token_client, settings):
    hung = HungServer()
    settings.CACHES = {
        "default": {
            "BACKEND": "oncall.cache.TolerantRedisCache",
            "LOCATION": hung.url,
            "OPTIONS": settings.CACHES["default"]["OPTIONS"],
        }
    }
    ingest = token_client("ingest")
    answers: list[int] = []

    def post() -> None:
        try:
            answers.append(ingest.post(EVENTS, FAILURE, format="json").status_code)
        finally:
            connections.close_all()  # this thread's connection

    enqueue_module._down_until = 0.0
    try:
        with producer_on(hung.url):
            thread = threading.Thread(target=post, daemon=True)
            thread.start()
            thread.join(60)  # a deadline for a hang, not a speed limit
            assert not thread.is_alive(), "ingest hangs on a Redis that never answers"
    finally:
        hung.close()
        enqueue_module._down_until = 0.0
    assert answers == [202]
    assert Incident.objects.count() == 1
