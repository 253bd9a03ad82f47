"""The beat's sweep; the other Celery tasks live beside their work and are imported
here so that Celery's autodiscovery of ``escalation.tasks`` finds them:
``engine.advance_task``, ``delivery.deliver_task`` and the Matrix channel's
(``escalation.channels.matrix.tasks``). Each takes ids and re-reads the state; the
task names stay as they were (``oncall.celery`` routes by name).
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escalation import delivery, engine
from escalation.channels.matrix import tasks as matrix_tasks  # noqa: F401  (registers them)
from oncall.enqueue import enqueue


@shared_task(name="escalation.tasks.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Beat, every ESCALATION_TICK_SECONDS: advance due incidents, re-send lost work."""
    counts = engine.sweep()
    now = timezone.now()
    ids = delivery.due_for_redelivery(now, timedelta(seconds=settings.ESCALATION_TICK_SECONDS))
    for pk in ids:
        enqueue(delivery.deliver_task, pk)
    counts["redelivered"] = len(ids)
    return counts
