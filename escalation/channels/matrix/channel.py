"""The Matrix channel: one message per incident and room, edited as the incident
changes; re-pings, escalation steps and reminders are replies in its thread.

A notification's idempotency key is the transaction id of what it posts, so a retried
send never posts twice. The root row is created before the root is posted, by the
notification that posts it: a second notification for the same room waits for it.

Edits: any change of an incident (a repeat, a claim, a mute, resolution) marks its
roots ``dirty_since`` (one small UPDATE that only the first change after an edit
wins) and enqueues one refresh ``EDIT_INTERVAL`` later, so a storm of 1,000 repeats
costs a handful of edits; a claim, mute or resolution is edited in at once. A short
lease keeps two workers from editing one message out of order; the beat sweep
refreshes roots whose task was lost (or whose edit met another worker's lease).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from escalation import selectors
from escalation.channels import ChannelError, Delivery
from escalation.channels.matrix import render
from escalation.channels.matrix.client import MatrixClient, MatrixError
from escalation.models import Incident, MatrixMessage, Notification
from rotations.models import Person

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)


def edit_interval() -> timedelta:
    return timedelta(seconds=settings.MATRIX_EDIT_INTERVAL_SECONDS)


@cache
def client() -> MatrixClient:
    return MatrixClient(settings.MATRIX_HOMESERVER or "", settings.MATRIX_ACCESS_TOKEN or "")


def room_of(incident: Incident) -> str:
    """The incident's room: the repo's, else its team's; "" when there is none."""
    repo = incident.repo_ref
    if repo is None:
        return ""
    if repo.matrix_room:
        return repo.matrix_room
    return repo.team.matrix_room if repo.team is not None else ""


def responsible(incident: Incident) -> list[Person]:
    """Who the room is told owns the failure now: the repo's on-call person, then the
    backups; [] when the incident has no repo or its rotations have nobody."""
    repo = incident.repo_ref
    if repo is None:
        return []
    return selectors.responsible([repo], timezone.now()).get(repo.pk, [])


def _error(error: MatrixError) -> ChannelError:
    return ChannelError(str(error), permanent=error.permanent, retry_after=error.retry_after)


class MatrixChannel:
    aggregates = False

    def send(self, batch: list[Notification]) -> Delivery:
        n = batch[0]
        try:
            room = client().room_id(n.address)
            return Delivery(self._post(n, room))
        except MatrixError as error:
            raise _error(error) from error

    def _post(self, n: Notification, room: str) -> str:
        incident = (
            Incident.objects.select_related("claimed_by", "resolved_by")
            .filter(pk=n.incident_id)
            .get()
        )
        root, created = MatrixMessage.objects.get_or_create(
            incident=incident, room=room, root=True, defaults={"notification": n}
        )
        if root.event_id and not created:
            return self._reply(n, root)
        if root.notification_id != n.pk and not _take_over(root, n):
            # Another notification is posting the root right now; it will be there soon.
            raise ChannelError("the incident's message is being posted", permanent=False)
        content = render.root(incident, n.person, responsible(incident))
        event_id = client().send(room, content, key=n.key)
        MatrixMessage.objects.filter(pk=root.pk).update(
            event_id=event_id, digest=render.digest(content), edited_at=timezone.now()
        )
        return event_id

    def _reply(self, n: Notification, root: MatrixMessage) -> str:
        n.incident = root.incident
        event_id = client().send(root.room, render.page_reply(n, root.event_id), key=n.key)
        MatrixMessage.objects.get_or_create(
            event_id=event_id,
            defaults={"incident_id": n.incident_id, "room": root.room, "notification": n},
        )
        return event_id


def _take_over(root: MatrixMessage, n: Notification) -> bool:
    """Post the root instead of a notification that gave up (failed for good)."""
    return bool(
        MatrixMessage.objects.filter(pk=root.pk, event_id="")
        .filter(Q(notification__isnull=True) | Q(notification__status=Notification.Status.FAILED))
        .update(notification=n)
    )


def reply(incident: Incident, room: str, text: str, key: str) -> str | None:
    """Confirm something in the incident's thread in ``room`` (or the room, when the
    incident has no message there). ``key`` makes a repeated confirmation post once."""
    root = (
        MatrixMessage.objects.filter(incident=incident, room=room, root=True)
        .exclude(event_id="")
        .first()
    )
    content = render.reply(root.event_id, text) if root else render.notice(text)
    event_id = client().send(room, content, key=key)
    MatrixMessage.objects.get_or_create(
        event_id=event_id, defaults={"incident": incident, "room": room}
    )
    return event_id


# Edits ---------------------------------------------------------------------------


def refresh(incident_id: int, now: datetime | None = None) -> int:
    """Edit the incident's messages to its current state; returns the edits posted.
    A message another worker is editing stays dirty for the sweep."""
    now = now or timezone.now()
    edited = 0
    roots = MatrixMessage.objects.filter(incident_id=incident_id, root=True).exclude(event_id="")
    for root in roots.select_related("notification__person"):
        took = MatrixMessage.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=root.pk
        ).update(lease_until=now + LEASE, dirty_since=None)
        if not took:
            continue
        try:
            edited += _edit(root)
        except MatrixError:
            MatrixMessage.objects.filter(pk=root.pk).update(dirty_since=now)
            raise
        finally:
            MatrixMessage.objects.filter(pk=root.pk).update(lease_until=None)
    return edited


def _edit(root: MatrixMessage) -> int:
    incident = Incident.objects.select_related("claimed_by", "resolved_by").get(pk=root.incident_id)
    paged = root.notification.person if root.notification else None
    content = render.root(incident, paged, responsible(incident))
    digest = render.digest(content)
    if digest == root.digest:
        return 0
    key = f"edit:{root.pk}:{root.edits + 1}:{digest}"
    client().send(root.room, render.edit(root.event_id, content), key=key)
    with transaction.atomic():
        MatrixMessage.objects.filter(pk=root.pk).update(
            edits=F("edits") + 1, digest=digest, edited_at=timezone.now()
        )
    return 1


def stale_roots(now: datetime) -> list[int]:
    """Incidents whose edit is overdue (its task was lost or its worker died)."""
    due = now - 2 * edit_interval()
    return list(
        MatrixMessage.objects.filter(root=True, dirty_since__lt=due)
        .values_list("incident_id", flat=True)
        .distinct()[:500]
    )
