"""Sending notification rows through their channels: at-least-once at the transport,
exactly-once in effect (a row is sent by one worker; e-mail Message-ID, webhook
Idempotency-Key and Matrix txnId make a rare re-send recognisable).

A worker takes a row by moving it to ``sending`` under a row lock; success marks it
``sent``; a temporary failure schedules a retry with backoff; a permanent failure (or
the last retry) marks it ``failed`` and writes ``notify_failed`` on the timeline —
escalation goes on regardless. Pages for an incident that was claimed, resolved or
muted meanwhile are cancelled instead of sent.

Storm protection (e-mail): every page goes out at once, except that an address gets
at most ``ONCALL_EMAIL_BURST`` messages per window of
``ONCALL_EMAIL_BURST_WINDOW_SECONDS`` (a window opens with the first message after the
previous one ended). Pages beyond that are held until the window ends and go out as
one digest, which opens the next window. The address's ``MailBurst`` row is locked
while a worker decides, so several workers never exceed the limit. A retry re-sends
exactly the message that failed (same rows, same Message-ID) and is not counted again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from escalation import channels
from escalation.channels import ChannelError, http
from escalation.models import Incident, MailBurst, Notification, TimelineEntry
from escalation.models.mail import burst_key
from oncall.celery import MAX_ETA_SECONDS
from oncall.enqueue import enqueue

log = logging.getLogger(__name__)

DIGEST_MAX = 500  # pages listed in one digest; the rest go in the next one
REQUEUE_MAX = timedelta(minutes=5)  # longest wait between two re-sends of a lost task
RETRY_DELAYS = [10, 30, 60, 120, 300, 600, 1200]  # seconds; then the row fails
#: Rows per delivery wake-up: a sweep batch's pages go out from several workers at once.
CHUNK = 20
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
    if n.kind in (Kind.ASSIGNED, Kind.RESPONDER):  # a person asked for them: claimed is fine
        return incident.state != Incident.State.RESOLVED
    return True


def _take(notification_id: int, now: datetime) -> list[Notification] | datetime | None:
    """Lock and mark ``sending`` the rows to send now as one message; a time when the
    row must wait for its address's digest; None when there is nothing to do."""
    with transaction.atomic():
        due = Notification.objects.filter(pk=notification_id, next_attempt_at__lte=now)
        peek = due.filter(status__in=UNSENT).first()
        if peek is None:
            return None
        retry = bool(peek.attempts and peek.batch)
        # The address's burst row is locked before any of its notification rows, so a
        # worker making a digest never finds a held page locked by a worker waiting
        # for the burst row (it would have to leave it out).
        burst = _lock_burst(peek) if not retry and _storm_protected(peek) else None
        first = _lock(due)
        if not first:
            return None
        batch = first
        if retry:
            # The same message again, with every row that failed with it.
            batch += _lock(Notification.objects.filter(batch=peek.batch).exclude(pk=peek.pk))
        elif _cancel(first, now):
            return None
        elif burst is not None:
            held = _burst(burst, first[0], max(now, timezone.now()))
            if isinstance(held, datetime):
                Notification.objects.filter(pk=first[0].pk).update(next_attempt_at=held)
                return held
            batch = held
        keep = [n for n in batch if n not in _cancel(batch, now)]
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


def _lock(rows: QuerySet[Notification], limit: int = DIGEST_MAX) -> list[Notification]:
    """The unsent ``rows`` no other worker holds, locked until the transaction ends."""
    return list(
        rows.select_for_update(skip_locked=True, of=("self",))
        .select_related("incident")
        .filter(status__in=UNSENT)
        .order_by("pk")[:limit]
    )


def _cancel(batch: list[Notification], now: datetime) -> list[Notification]:
    """Fail (and return) the rows whose incident no longer wants them."""
    cancelled = [n for n in batch if not _still_wanted(n, now)]
    if cancelled:
        Notification.objects.filter(pk__in=[n.pk for n in cancelled]).update(
            status=Status.FAILED,
            error="cancelled: the incident was claimed, muted or resolved before it was sent",
        )
    return cancelled


def _storm_protected(n: Notification) -> bool:
    channel = channels.get(n.channel)
    return (
        channel is not None
        and channel.aggregates
        and n.kind in PAGES
        and settings.ONCALL_EMAIL_BURST > 0
    )


def _lock_burst(n: Notification) -> MailBurst:
    """The burst row of ``n``'s address, locked (waiting for another worker's lock)."""
    key = burst_key(n.channel, n.address)
    locked = MailBurst.objects.select_for_update()
    burst = locked.filter(key=key).first()
    if burst is None:  # the first mail to this address: the new row is locked as ours
        try:
            with transaction.atomic():
                burst = MailBurst.objects.create(
                    key=key, channel=n.channel, address=n.address, window_started_at=timezone.now()
                )
        except IntegrityError:  # another worker's first mail to it, just committed
            burst = locked.get(key=key)
    return burst


def _burst(burst: MailBurst, first: Notification, now: datetime) -> list[Notification] | datetime:
    """Count ``first`` against its address's window: the rows to send now (``first``,
    or the digest of every held page when the window it was held for has ended), or
    when the current window ends if the address already got its share."""
    window = timedelta(seconds=settings.ONCALL_EMAIL_BURST_WINDOW_SECONDS)
    batch = [first]
    if now >= burst.window_started_at + window:
        if burst.digest_at is not None:
            held = Notification.objects.filter(
                channel=first.channel,
                address=first.address,
                kind__in=PAGES,
                status=Status.PENDING,
                attempts=0,
                next_attempt_at__lte=now,
            ).exclude(pk=first.pk)
            batch += _lock(held, DIGEST_MAX - 1)
        burst.window_started_at, burst.mails, burst.digest_at = now, 0, None
    elif burst.mails >= settings.ONCALL_EMAIL_BURST:
        burst.digest_at = burst.window_started_at + window
        burst.save(update_fields=["digest_at"])
        return burst.digest_at
    burst.mails += 1
    burst.save(update_fields=["window_started_at", "mails", "digest_at"])
    return batch


def deliver(notification_id: int) -> datetime | None:
    """Send the notification (with the pages of its digest, or of its failed message).
    Returns when to try again (a retry or the end of a storm window), else None."""
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
    (their worker died). The sweep hands them to workers again.

    A row handed out again waits twice as long before the next time (``requeue_after``,
    at most REQUEUE_MAX): when workers are only behind, not lost, the sweep does not
    flood the broker with copies of what is still queued."""
    stale = Notification.objects.filter(status=Status.SENDING, next_attempt_at__lte=now)
    stale.update(status=Status.RETRYING)
    rows = list(
        Notification.objects.filter(Q(status__in=UNSENT), next_attempt_at__lte=now - grace)
        .filter(Q(requeue_after__isnull=True) | Q(requeue_after__lte=now))
        .order_by("next_attempt_at")
        .values_list("pk", "requeues")[:1000]
    )
    by_count: dict[int, list[int]] = {}
    for pk, count in rows:
        by_count.setdefault(count, []).append(pk)
    for count, pks in by_count.items():
        wait = min(max(grace, timedelta(seconds=1)) * 2 ** min(count, 20), REQUEUE_MAX)
        Notification.objects.filter(pk__in=pks).update(
            requeues=F("requeues") + 1, requeue_after=now + wait
        )
    return [pk for pk, _ in rows]


@shared_task(name="escalation.channels.deliver", ignore_result=True)
def deliver_task(notification_id: int) -> None:
    """Deliver one notification; again at the time ``deliver`` names (a retry, a held
    burst)."""
    again = deliver(notification_id)
    if again is not None:
        enqueue(deliver_task, notification_id, eta=again)


@shared_task(name="escalation.channels.deliver_many", ignore_result=True)
def deliver_many_task(notification_ids: list[int]) -> None:
    """Deliver a few notifications in turn (a chunk of a sweep batch's pages). One that
    fails unexpectedly does not hold up the others; the sweep re-sends it."""
    for pk in notification_ids:
        try:
            deliver_task(pk)
        except Exception:
            log.exception("delivering notification %s failed", pk)


def schedule(ids: list[int], eta: datetime | None = None) -> None:
    """Wake workers for the new notifications once the transaction commits, or at
    ``eta`` (a delayed personal rule): one message per ``CHUNK`` rows, few enough to
    publish cheaply, enough for every worker to take a share. The sweep re-sends any
    whose message is lost, and any due too far ahead for a broker ETA."""
    if not ids:
        return
    if eta is not None and eta - timezone.now() > timedelta(seconds=MAX_ETA_SECONDS):
        return
    chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]

    def wake() -> None:
        for chunk in chunks:
            if len(chunk) == 1:
                enqueue(deliver_task, chunk[0], eta=eta)
            else:
                enqueue(deliver_many_task, chunk, eta=eta)

    transaction.on_commit(wake)
