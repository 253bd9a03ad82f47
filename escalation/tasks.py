"""Celery tasks of the escalation engine: thin wrappers that take ids and re-read state."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from escalation import delivery, engine


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


@shared_task(name="escalation.channels.matrix_refresh", ignore_result=True)
def matrix_refresh(incident_id: int) -> int:
    """Edit the incident's Matrix messages to its current state."""
    from escalation.channels.matrix import channel

    return channel.refresh(incident_id)


@shared_task(name="escalation.tasks.matrix_sweep", ignore_result=True)
def matrix_sweep() -> int:
    """Beat: re-enqueue overdue edits (their task was lost). No-op without Matrix."""
    from escalation.channels import matrix

    if not matrix.configured():
        return 0
    from escalation.channels.matrix import channel

    ids = channel.stale_roots(timezone.now())
    for pk in ids:
        matrix_refresh.delay(pk)
    return len(ids)


@shared_task(name="escalation.tasks.matrix_topics", ignore_result=True)
def matrix_topics() -> int:
    """Beat: keep room topics current (repairs a missed handoff or an edited topic)."""
    from escalation.channels import matrix

    if not matrix.configured():
        return 0
    from escalation.channels.matrix import topic

    return topic.update_all()


@shared_task(name="escalation.tasks.matrix_topic", ignore_result=True)
def matrix_topic(room: str) -> bool:
    """Set one room's topic now: a team or repo was just saved with it."""
    from escalation.channels import matrix

    if not matrix.configured():
        return False
    from escalation.channels.matrix import topic

    return topic.set_now(room)
