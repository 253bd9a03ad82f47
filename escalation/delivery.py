"""Sending notification rows through their channels: at-least-once at the transport,
exactly-once in effect (a row is sent by one worker; e-mail Message-ID, webhook
Idempotency-Key and Matrix txnId make a rare re-send recognisable).

A worker takes a row by moving it to ``sending`` under a row lock; success marks it
``sent``; a temporary failure schedules a retry with backoff; a permanent failure (or
the last retry) marks it ``failed`` and writes ``notify_failed`` on the timeline —
escalation goes on regardless. Pages for an incident that was claimed, resolved or
muted meanwhile are cancelled instead of sent.

Aggregation (e-mail): the first page to an address goes out at once; pages to the
same address within the next ``AGGREGATION_WINDOW`` (60 s) wait for the window's end
and go out together as one message listing all of them.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from escalation import channels
from escalation.channels import ChannelError, http
from escalation.models import Incident, Notification, TimelineEntry

log = logging.getLogger(__name__)

AGGREGATION_WINDOW = timedelta(seconds=60)
AGGREGATE_MAX = 50
RETRY_DELAYS = [10, 30, 60, 120, 300, 600, 1200]  # seconds; then the row fails
LEASE = timedelta(minutes=5)  # a row "sending" longer than this was lost with its worker
Status = Notification.Status
Kind = Notification.Kind
PAGES = (Kind.PAGE, Kind.REPAGE, Kind.CLAIM_REMINDER)
UNSENT = (Status.PENDING, Status.RETRYING)


def _still_wanted(n: Notification, now: datetime) -> bool:
    incident = n.incident
    if n.kind in (Kind.PAGE, Kind.REPAGE):
        return incident.state == Incident.State.OPEN and not incident.is_muted(now)
    if n.kind == Kind.CLAIM_REMINDER:
        return incident.state == Incident.State.CLAIMED
    return True


def _take(notification_id: int, now: datetime) -> list[Notification] | datetime | None:
    """Lock and mark ``sending`` the batch to send now; a time when it must wait for the
    aggregation window; None when there is nothing to do."""
    with transaction.atomic():
        first = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("incident")
            .filter(pk=notification_id, status__in=UNSENT, next_attempt_at__lte=now)
            .first()
        )
        if first is None:
            return None
        channel = channels.get(first.channel)
        batch = [first]
        if channel is not None and channel.aggregates and first.kind in PAGES:
            last = (
                Notification.objects.filter(
                    channel=first.channel,
                    address=first.address,
                    status=Status.SENT,
                    sent_at__gt=now - AGGREGATION_WINDOW,
                )
                .order_by("-sent_at")
                .values_list("sent_at", flat=True)
                .first()
            )
            if last is not None and first.attempts == 0:
                wait_until = last + AGGREGATION_WINDOW
                Notification.objects.filter(pk=first.pk).update(next_attempt_at=wait_until)
                return wait_until
            batch += list(
                Notification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("incident")
                .filter(
                    channel=first.channel, address=first.address, status__in=UNSENT, kind__in=PAGES
                )
                .exclude(pk=first.pk)
                .order_by("pk")[: AGGREGATE_MAX - 1]
            )
        keep = [n for n in batch if _still_wanted(n, now)]
        cancelled = [n.pk for n in batch if n not in keep]
        if cancelled:
            Notification.objects.filter(pk__in=cancelled).update(
                status=Status.FAILED,
                error="cancelled: the incident was claimed, muted or resolved before it was sent",
            )
        if not keep:
            return None
        tag = uuid.uuid4().hex
        Notification.objects.filter(pk__in=[n.pk for n in keep]).update(
            status=Status.SENDING,
            batch=tag,
            next_attempt_at=now + LEASE,
            attempts=F("attempts") + 1,
        )
        for n in keep:
            n.attempts += 1
            n.batch = tag
        return keep


def deliver(notification_id: int) -> datetime | None:
    """Send the notification (with what aggregates with it). Returns when to try again
    (a retry or the end of an aggregation window), else None."""
    now = timezone.now()
    taken = _take(notification_id, now)
    if taken is None or isinstance(taken, datetime):
        return taken
    batch = taken
    channel = channels.get(batch[0].channel)
    try:
        if channel is None:
            raise ChannelError(f"the {batch[0].channel} channel is not configured", permanent=True)
        delivery = channel.send(batch)
    except ChannelError as error:
        return _failed(batch, error, timezone.now())
    except Exception as error:  # a bug or an unexpected transport error: retry, loudly
        log.exception("sending notification %s failed", notification_id)
        return _failed(batch, ChannelError(repr(error), permanent=False), timezone.now())
    sent_at = timezone.now()
    with transaction.atomic():
        Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
            status=Status.SENT, sent_at=sent_at, external_id=delivery.external_id[:500], error=""
        )
        TimelineEntry.objects.bulk_create(
            TimelineEntry(
                incident_id=n.incident_id,
                at=sent_at,
                kind=_sent_kind(n),
                actor=n.person,
                channel=n.channel,
                detail=f"{n.kind} to {_shown(n)}"
                + (f" (with {len(batch) - 1} more)" if len(batch) > 1 else ""),
            )
            for n in batch
        )
    return None


def _shown(n: Notification) -> str:
    """The address as every reader of the timeline may see it: a webhook's host only
    (its path or query may carry a secret)."""
    if n.channel == Notification.Channel.WEBHOOK:
        return f"webhook {http.host_of(n.address)}"
    return n.address


def _sent_kind(n: Notification) -> str:
    if n.kind in (Kind.FORWARD, Kind.FORWARD_RESOLVED):
        return TimelineEntry.Kind.FORWARDED
    return TimelineEntry.Kind.NOTIFIED


def _failed(batch: list[Notification], error: ChannelError, now: datetime) -> datetime | None:
    attempts = max(n.attempts for n in batch)
    final = error.permanent or attempts > len(RETRY_DELAYS)
    with transaction.atomic():
        if final:
            Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
                status=Status.FAILED, error=str(error)[:2000]
            )
            TimelineEntry.objects.bulk_create(
                TimelineEntry(
                    incident_id=n.incident_id,
                    at=now,
                    kind=TimelineEntry.Kind.NOTIFY_FAILED,
                    channel=n.channel,
                    detail=f"{n.kind} to {_shown(n)} failed after {attempts} attempt(s): {error}"[
                        :2000
                    ],
                )
                for n in batch
            )
            return None
        delay = max(RETRY_DELAYS[attempts - 1], error.retry_after or 0)
        retry_at = now + timedelta(seconds=delay)
        Notification.objects.filter(pk__in=[n.pk for n in batch]).update(
            status=Status.RETRYING, error=str(error)[:2000], next_attempt_at=retry_at
        )
    log.warning(
        "notification %s: attempt %s failed, retry at %s: %s",
        batch[0].pk,
        attempts,
        retry_at,
        error,
    )
    return retry_at


def due_for_redelivery(now: datetime, grace: timedelta) -> list[int]:
    """Rows whose task was lost: unsent and due for a while, or ``sending`` past the lease
    (their worker died). The sweep hands them to workers again."""
    stale = Notification.objects.filter(status=Status.SENDING, next_attempt_at__lte=now)
    stale.update(status=Status.RETRYING)
    return list(
        Notification.objects.filter(Q(status__in=UNSENT), next_attempt_at__lte=now - grace)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
