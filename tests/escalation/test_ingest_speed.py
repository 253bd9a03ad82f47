"""The fast ingest path (issue 16) keeps the behaviour: the watches' matches cached with
the routing configuration and dropped on every change that matters, a repeat stored
by one statement on PostgreSQL and still counted once per delivery, one round trip
per rate-limit hit, and the web server's threaded defaults."""

from __future__ import annotations

import runpy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation import routing_cache
from escalation.ingest import Report
from escalation.models import Incident, Occurrence, Watch
from escalation.services import ingestion
from oncall import ratelimit
from oncall.cache import TolerantRedisCache
from tests.processes import free_port

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 3, 10, tzinfo=UTC)
MATCH = {"repo": "acme/app", "pipeline": "nightly"}


def report(status: str = "success", delivery_key: str = "", **fields: str) -> Report:
    values = {"repo": "acme/app", "pipeline": "nightly", "job": "build", **fields}
    return Report(source="zuul", status=status, delivery_key=delivery_key, **values)  # type: ignore[arg-type]


def watch(**changes: object) -> Watch:
    values: dict[str, object] = {
        "slug": f"w{uuid.uuid4().hex[:8]}",
        "match": MATCH,
        "every_seconds": 3600,
        "due_at": NOW + timedelta(hours=1),
    }
    return Watch.objects.create(**{**values, **changes})


# The watches' matches, cached per process ---------------------------------------------


def test_a_watch_made_after_the_copy_was_cached_is_seen_by_the_next_report():
    ingestion.accept([report()], now=NOW)  # the routing copy is cached, without the watch
    made = watch()

    ingestion.accept([report()], now=NOW + timedelta(seconds=5))

    made.refresh_from_db()
    assert made.last_seen == NOW + timedelta(seconds=5)


def test_a_changed_match_and_a_paused_watch_take_effect_at_once():
    changed, paused = watch(), watch()
    ingestion.accept([report()], now=NOW)
    changed.refresh_from_db()
    paused.refresh_from_db()
    changed.match = {"repo": "acme/other"}
    changed.save()
    paused.active = False
    paused.save()

    ingestion.accept([report()], now=NOW + timedelta(minutes=5))

    changed.refresh_from_db()
    paused.refresh_from_db()
    assert changed.last_seen == NOW
    assert paused.last_seen == NOW
    ingestion.accept([report(repo="acme/other", pipeline="")], now=NOW + timedelta(minutes=6))
    changed.refresh_from_db()
    assert changed.last_seen == NOW + timedelta(minutes=6)


def test_a_deleted_watch_is_forgotten_at_once():
    gone = watch()
    ingestion.accept([report()], now=NOW)
    assert routing_cache.current().watches == [(gone.pk, MATCH)]
    gone.delete()
    assert routing_cache.current().watches == []


def test_a_sign_of_life_keeps_the_cached_copy():
    watch()
    ingestion.accept([report()], now=NOW)
    copy = routing_cache.current()

    ingestion.accept([report()], now=NOW + timedelta(minutes=5))  # saves the watch's state

    assert routing_cache.current() is copy


def test_reports_no_watch_matches_read_no_watch():
    watch()
    ingestion.accept([report(repo="acme/quiet")], now=NOW)
    with CaptureQueriesContext(connection) as queries:
        ingestion.accept([report(repo="acme/quiet")], now=NOW + timedelta(minutes=5))
    assert not [q for q in queries if "escalation_watch" in q["sql"]]


# A repeat: one statement on PostgreSQL, counted once per delivery ----------------------


def test_a_repeat_is_one_statement_and_a_retried_delivery_counts_once():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement repeat is PostgreSQL's; SQLite takes three")
    first = ingestion.accept([report("failure", "d1")], now=NOW).outcomes[0].incident
    # From the fourth occurrence on, no timeline line is due until the tenth.
    for n in (2, 3, 4):
        ingestion.accept([report("failure", f"d{n}")], now=NOW)

    with CaptureQueriesContext(connection) as queries:
        outcome = ingestion.accept([report("failure", "d5", summary="again")], now=NOW)
    incident_statements = [q for q in queries if "escalation_incident" in q["sql"]]
    assert len(incident_statements) == 1, [q["sql"] for q in queries]
    assert (outcome.outcomes[0].incident.pk, outcome.outcomes[0].created) == (first.pk, False)
    assert outcome.outcomes[0].incident.occurrences == 5

    again = ingestion.accept([report("failure", "d5")], now=NOW + timedelta(seconds=1))

    assert again.outcomes[0].incident.occurrences == 5
    stored = Incident.objects.get(pk=first.pk)
    assert (stored.occurrences, stored.summary, stored.last_seen) == (5, "again", NOW)
    assert Occurrence.objects.filter(incident=stored).count() == 5


def test_a_repeat_of_a_resolved_incident_opens_a_new_one():
    first = ingestion.accept([report("failure", "a")], now=NOW).outcomes[0].incident
    ingestion.accept([report("success", "b")], now=NOW + timedelta(minutes=1))

    after = ingestion.accept([report("failure", "c")], now=NOW + timedelta(minutes=2))

    assert after.outcomes[0].created
    assert after.outcomes[0].incident.pk != first.pk
    assert after.outcomes[0].incident.occurrences == 1


# Rate limits: one round trip to Redis ----------------------------------------------------


def test_a_rate_limit_hit_counts_in_redis_and_expires(settings):
    if not settings.CACHES["default"]["BACKEND"].endswith("TolerantRedisCache"):
        pytest.skip("needs REDIS_URL")
    name = ratelimit.key("speed", uuid.uuid4().hex)
    assert ratelimit.hit(name, "2/m", now=120.0) is None
    assert ratelimit.hit(name, "2/m", now=121.0) is None
    assert ratelimit.hit(name, "2/m", now=122.0) == 58.0
    bucket = cache.make_and_validate_key(f"{name}:2")
    assert 0 < cache._cache.get_client(bucket).ttl(bucket) <= 61
    assert cache.get(f"{name}:2") == 3


def test_the_redis_client_is_made_once_per_process(settings):
    if not settings.CACHES["default"]["BACKEND"].endswith("TolerantRedisCache"):
        pytest.skip("needs REDIS_URL")
    client = caches["default"]._cache
    assert client.get_client("a") is client.get_client("b")


def test_the_one_round_trip_counter_lets_requests_through_when_redis_is_down():
    down = TolerantRedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    assert down.count("x", 60) == 1
    assert down.count("x", 60) == 1


# The web server's defaults -------------------------------------------------------------


def test_gunicorn_runs_threads_sized_by_web_threads(monkeypatch):
    monkeypatch.delenv("WEB_THREADS", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    defaults = runpy.run_module("oncall.gunicorn_config")
    assert (defaults["worker_class"], defaults["workers"], defaults["threads"]) == (
        "gthread",
        2,
        8,
    )
    monkeypatch.setenv("WEB_THREADS", "3")
    assert runpy.run_module("oncall.gunicorn_config")["threads"] == 3
    assert defaults["keepalive"] > 60  # longer than clients keep idle connections
