"""Celery tasks of the Matrix channel, and the hooks that enqueue them: edits after an
incident changed, topics after a team or repo was saved (both plugged in by
``escalation.plugins``), and the beat tasks that repair what a lost task missed.

Task names are kept from before they moved here (``oncall.celery`` routes by name).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from escalation.channels.matrix import channel, configured, topic
from escalation.models import MatrixMessage, Repo
from oncall.enqueue import enqueue, enqueue_on_commit
from rotations.models import Team


def on_incident_changed(incident_id: int, soon: bool = False) -> None:
    """The incident changed: its messages need an edit (called after the change commits).
    Repeats are gathered into one edit per ``EDIT_INTERVAL``; what a person did shows
    at once."""
    now = timezone.now()
    marked = MatrixMessage.objects.filter(
        incident_id=incident_id, root=True, dirty_since__isnull=True
    ).update(dirty_since=now)
    if marked or soon:
        countdown = 0 if soon else channel.edit_interval().seconds
        enqueue(matrix_refresh, incident_id, countdown=countdown)


def on_saved(sender: Any, instance: Team | Repo, **kwargs: Any) -> None:
    """Signal receiver: a team or repo with a room was saved (its room set, its mail or
    workflow changed): set that room's topic after the commit, from a worker."""
    room = instance.matrix_room
    if room:
        enqueue_on_commit(matrix_topic, room)


@shared_task(name="escalation.channels.matrix_refresh", ignore_result=True)
def matrix_refresh(incident_id: int) -> int:
    """Edit the incident's Matrix messages to its current state."""
    return channel.refresh(incident_id)


@shared_task(name="escalation.tasks.matrix_sweep", ignore_result=True)
def matrix_sweep() -> int:
    """Beat: re-enqueue overdue edits (their task was lost). No-op without Matrix."""
    if not configured():
        return 0
    ids = channel.stale_roots(timezone.now())
    for pk in ids:
        enqueue(matrix_refresh, pk)
    return len(ids)


@shared_task(name="escalation.tasks.matrix_topics", ignore_result=True)
def matrix_topics() -> int:
    """Beat: keep room topics current (repairs a missed handoff or an edited topic)."""
    if not configured():
        return 0
    return topic.update_all()


@shared_task(name="escalation.tasks.matrix_topic", ignore_result=True)
def matrix_topic(room: str) -> bool:
    """Set one room's topic now: a team or repo was just saved with it."""
    if not configured():
        return False
    return topic.set_now(room)
