"""A Redis restart under a real worker: it reconnects and keeps working (oncall/broker.py)."""

import uuid

import pytest

from oncall.models import Heartbeat
from oncall.tasks import heartbeat
from tests.processes import celery_worker, child_env, producer_on, redis_server, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_worker_holding_an_eta_task_survives_a_redis_restart(tmp_path):
    queue = f"test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    with (
        redis_server(tmp_path) as redis,
        producer_on(redis.url),
        celery_worker(queue, child_env(REDIS_URL=redis.url), log) as worker,
    ):
        wait_until(lambda: "ready." in log.read_text(), 60, "the worker", log)
        # A started worker records its heartbeat at once (for /healthz), without beat.
        wait_until(
            lambda: Heartbeat.objects.filter(name="worker").exists(), 10, "the heartbeat", log
        )
        # An ETA task is held by the worker, unacknowledged, as escalation's are.
        heartbeat.apply_async(args=["held"], queue=queue, countdown=3600)
        wait_until(lambda: "received" in log.read_text(), 30, "the ETA task", log)
        redis.stop()
        wait_until(lambda: "Connection to broker lost" in log.read_text(), 30, "loss", log)
        redis.start()  # the same port, empty
        wait_until(
            lambda: (
                worker.poll() is not None or log.read_text().count("Connected to redis://") == 2
            ),
            60,
            "a reconnect (or the worker's end)",
            log,
        )
        assert worker.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
        heartbeat.apply_async(args=["after-restart"], queue=queue)
        wait_until(
            lambda: Heartbeat.objects.filter(name="after-restart").exists(),
            60,
            "a task after the restart",
            log,
        )
        assert worker.poll() is None
    assert "Unrecoverable error" not in log.read_text()
