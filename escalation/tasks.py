"""Celery tasks of the escalation engine: thin wrappers that take ids and re-read state.

The Matrix channel's tasks live beside it (``escalation.channels.matrix.tasks``);
importing them here lets Celery's autodiscovery of ``escalation.tasks`` find them.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escalation import delivery, engine
from escalation.channels.matrix import tasks as matrix_tasks  # noqa: F401  (the worker finds them)


@shared_task(name="escalation.tasks.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Beat, every ESCALATION_TICK_SECONDS: advance due incidents, re-send lost work."""
    counts = engine.sweep()
    now = timezone.now()
    ids = delivery.due_for_redelivery(now, timedelta(seconds=settings.ESCALATION_TICK_SECONDS))
    for pk in ids:
        deliver.delay(pk)
    counts["redelivered"] = len(ids)
    return counts


@shared_task(name="escalation.tasks.advance", ignore_result=True)
def advance(incident_id: int) -> bool:
    return engine.advance_one(incident_id)


@shared_task(name="escalation.channels.deliver", ignore_result=True)
def deliver(notification_id: int) -> None:
    again = delivery.deliver(notification_id)
    if again is not None:
        deliver.apply_async(args=(notification_id,), eta=again)
