"""/healthz reports whether beat and the workers are alive, from their heartbeats."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from oncall.models import Heartbeat
from tests.processes import ROOT, child_env, wait_until

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def beats(scheduler_age: int | None, worker_age: int | None) -> None:
    for name, age in (("beat", scheduler_age), ("worker", worker_age)):
        if age is not None:
            Heartbeat.objects.create(name=name, at=T0 - timedelta(seconds=age))


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_healthz_reports_heartbeat_ages_and_is_200_while_both_are_fresh(client, settings):
    settings.ONCALL_HEARTBEAT_STALE_SECONDS = 120
    beats(scheduler_age=5, worker_age=120)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "scheduler": "ok",
        "worker": "ok",
        "scheduler_age_seconds": 5,
        "worker_age_seconds": 120,
        "stale_after_seconds": 120,
    }


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_healthz_is_503_when_no_worker_ran_the_heartbeat_within_the_threshold(client, settings):
    settings.ONCALL_HEARTBEAT_STALE_SECONDS = 120
    beats(scheduler_age=5, worker_age=121)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert (response.json()["worker"], response.json()["worker_age_seconds"]) == ("stale", 121)
    assert response.json()["scheduler"] == "ok"


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_healthz_is_503_when_beat_is_stale(client, settings):
    settings.ONCALL_HEARTBEAT_STALE_SECONDS = 60
    beats(scheduler_age=61, worker_age=30)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["scheduler"] == "stale"
    assert response.json()["worker"] == "ok"


@pytest.mark.django_db
def test_healthz_is_200_before_the_first_heartbeats_of_a_new_installation(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["scheduler"] == response.json()["worker"] == "unknown"
    assert response.json()["worker_age_seconds"] is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_records_its_own_heartbeat_without_any_worker(tmp_path):
    env = child_env(REDIS_URL=None, ONCALL_DATA_DIR=str(tmp_path))
    log = tmp_path / "beat.log"
    argv = [sys.executable, "-m", "celery", "-A", "oncall", "beat", "--loglevel", "info"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: Heartbeat.objects.filter(name="beat").exists(), 60, "beat", log)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert not Heartbeat.objects.filter(name="worker").exists()


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_healthz_for_a_web_node_ignores_stale_workers_and_the_broker(client, settings):
    # docker compose starts worker and beat once web is healthy: a stale heartbeat
    # from before a restart must not keep web unhealthy forever.
    settings.ONCALL_HEARTBEAT_STALE_SECONDS = 120
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    beats(scheduler_age=3600, worker_age=3600)
    assert client.get("/healthz").status_code == 503
    response = client.get("/healthz?scope=web")
    assert response.status_code == 200
    assert (response.json()["worker"], response.json()["broker"]) == ("stale", "down")
