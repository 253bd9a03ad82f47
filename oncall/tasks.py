from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from oncall import beat


@shared_task(name="oncall.tasks.heartbeat")
def heartbeat(name: str = beat.WORKER_HEARTBEAT) -> str:
    """Record that the scheduler fired and a worker ran the task (read by /healthz)."""
    beat.record(name)
    return name


@worker_ready.connect
def _worker_started(**kwargs: Any) -> None:
    # A restarted worker is alive at once, not only at the next beat-triggered heartbeat.
    beat.record(beat.WORKER_HEARTBEAT)
