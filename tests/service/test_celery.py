"""Background tasks run in a real worker process, through a real broker."""

import uuid

import pytest
from celery import Celery
from django.conf import settings
from django.utils import timezone

from oncall.celery import app_config
from oncall.models import Heartbeat
from oncall.tasks import heartbeat
from tests.processes import celery_worker, child_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_task_runs_in_a_real_worker_through_redis(tmp_path):
    assert settings.REDIS_URL, "the test suite runs against Redis (make test sets REDIS_URL)"
    queue = f"test-{uuid.uuid4().hex[:8]}"  # only this test's worker consumes it
    log = tmp_path / "worker.log"
    with celery_worker(queue, child_env(), log):
        sent_at = timezone.now()
        heartbeat.apply_async(args=["redis-now"], queue=queue)
        # An ETA task, as escalation schedules them: held by the worker, then run.
        heartbeat.apply_async(args=["redis-eta"], queue=queue, countdown=2)
        wait_until(
            lambda: Heartbeat.objects.filter(name="redis-now").exists(),
            60,
            "the immediate task",
            log,
        )
        eta = wait_until(
            lambda: Heartbeat.objects.filter(name="redis-eta").first(), 60, "the ETA task", log
        )
    assert eta.at >= sent_at + timezone.timedelta(seconds=2)
    assert "redis://" in log.read_text()


def test_embedded_broker_needs_no_redis(tmp_path):
    broker_dir = tmp_path / "broker"
    producer = Celery("producer", set_as_current=False)
    producer.conf.update(app_config(None, broker_dir, 5))
    log = tmp_path / "worker.log"
    env = child_env(REDIS_URL=None, ONCALL_DATA_DIR=str(tmp_path))
    with celery_worker("default", env, log):
        producer.send_task("oncall.tasks.heartbeat", args=["embedded"], queue="default")
        wait_until(
            lambda: Heartbeat.objects.filter(name="embedded").exists(),
            60,
            "the task through the filesystem broker",
            log,
        )
    assert "filesystem://" in log.read_text()
    assert "redis://" not in log.read_text()
