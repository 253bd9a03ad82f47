"""Telling the people a swap affects: e-mail from here, other channels (a Matrix room
message) through ``SWAP_HOOKS``, which ``escalation.plugins`` fills.

Each change writes a ``SwapNotice`` row in its own transaction; once that commits a
Celery task (``rotations.tasks.notify_swap``) sends it, and the beat
(``rotations.tasks.resend_swap_notices``) sends the ones whose wake-up the broker
lost. Each e-mail's ``Message-ID`` is derived from (swap, event, person) and each
room message's transaction id from (swap, event), so a retry sends the same ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from oncall import mail
from oncall.enqueue import enqueue_on_commit
from rotations import schedule, selectors
from rotations.models import Person, Swap, SwapNotice

log = logging.getLogger(__name__)


class Event(StrEnum):
    REQUESTED = "requested"  # open: the other members may take it
    OFFERED = "offered"  # a cover proposed to someone, who may take it
    TAKEN = "taken"
    APPROVED = "approved"
    COVERED = "covered"  # a cover done at once (by the person covering or a lead)
    CANCELLED = "cancelled"


#: fn(swap, event) after the e-mails went out. Filled by escalation.plugins: the Matrix
#: channel posts the change in the rotation's rooms.
SWAP_HOOKS: list[Callable[[Swap, Event], None]] = []


# A pending notice older than this is sent by the beat (its task message was lost);
# one older than STALE is given up (it would only confuse).
LOST = timedelta(minutes=2)
STALE = timedelta(days=1)


def announce(swap: Swap, event: Event) -> None:
    """Write the notice of ``event``; it is sent once the current transaction commits."""
    from rotations import tasks

    notice, _ = SwapNotice.objects.get_or_create(swap=swap, event=str(event))
    enqueue_on_commit(tasks.notify_swap, notice.pk)


def lost(now: datetime) -> list[int]:
    """Pending notices whose task should have sent them by now."""
    return list(
        SwapNotice.objects.filter(
            status=SwapNotice.Status.PENDING,
            created_at__lt=now - LOST,
            created_at__gte=now - STALE,
        ).values_list("pk", flat=True)
    )


def displaced(swap: Swap) -> list[Person]:
    """Whose shifts the swap's override replaced (without it, who would be on call)."""
    loaded = selectors.load_one(swap.rotation, (swap.start, swap.end))
    override = swap.override
    others = [
        o
        for o in loaded.overrides
        if override is None
        or not (o.created_at == override.created_at and schedule.same(o.person, override.person))
    ]
    shifts = schedule.final_shifts(loaded.versions, others, swap.start, swap.end)
    found: dict[int, Person] = {}
    for shift in shifts:
        if shift.person is not None:
            found.setdefault(shift.person.pk, shift.person)  # type: ignore[arg-type]
    return list(found.values())


def recipients(swap: Swap, event: Event) -> list[Person]:
    """Who hears of ``event`` by e-mail (never the person who did it twice)."""
    from rotations.swap_services import members

    people: list[Person | None]
    if event == Event.REQUESTED:
        people = [m for m in members(swap.rotation, swap.start, swap.end)]
        people = [p for p in people if p and p.pk != swap.requester_id]
    elif event == Event.OFFERED:
        people = [swap.offered_to, swap.requester]
    elif event == Event.TAKEN:
        people = [swap.requester, swap.taken_by]
        if swap.override_id is None and swap.rotation.team is not None:
            people += list(swap.rotation.team.leads.all())  # they approve it
    elif event == Event.COVERED:
        people = [swap.taken_by, swap.requester, *displaced(swap)]
    else:
        people = [swap.requester, swap.taken_by, swap.offered_to]
    unique: dict[int, Person] = {}
    for person in people:
        if person is not None and person.active and person.email:
            unique.setdefault(person.pk, person)
    return list(unique.values())


def summary(swap: Swap, event: Event) -> str:
    """One line: what happened (in UTC; e-mails say it in each reader's zone)."""
    taker = swap.taken_by.name if swap.taken_by else ""
    span = f"{swap.rotation.name} from {swap.start:%a %d %b %H:%M} to {swap.end:%a %d %b %H:%M}"
    return {
        Event.REQUESTED: f"{swap.requester.name} asks for cover of {span}",
        Event.OFFERED: f"{swap.requester.name} asks {swap.offered_to} to cover {span}",
        Event.TAKEN: f"{taker} takes {swap.requester.name}'s {span}"
        + ("" if swap.override_id else " (awaiting a lead's approval)"),
        Event.APPROVED: f"{swap.approved_by} approved: {taker} covers {span}",
        Event.COVERED: f"{taker} covers {span}",
        Event.CANCELLED: f"Swap #{swap.pk} cancelled by {swap.cancelled_by}: {span}",
    }[event]


def message(swap: Swap, event: Event, person: Person) -> EmailMultiAlternatives:
    zone = ZoneInfo(person.timezone or "UTC")
    base = settings.ONCALL_BASE_URL.rstrip("/")
    context = {
        "person": person,
        "swap": swap,
        "event": str(event),
        "start": swap.start,
        "end": swap.end,
        "url": f"{base}/rotations/{swap.rotation.slug}/#swaps",
        "take": f"!take {swap.pk}",
    }
    with timezone.override(zone):
        body = render_to_string("rotations/email/swap.txt", context)
        local = timezone.localtime(swap.start)
    subject = (
        f"[oncall] Swap #{swap.pk} {event}: {swap.rotation.name} from {local:%a %d %b %H:%M %Z}"
    )
    return EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        headers={
            "Message-ID": mail.message_id(f"s{swap.pk}.{event}.{person.pk}"),
            **mail.AUTOMATIC,
        },
    )


def deliver(notice_id: int) -> int:
    """Send one pending notice: its e-mails, then the hooks; the number of e-mails sent
    (0 when it is sent already)."""
    with transaction.atomic():
        notice = (
            SwapNotice.objects.select_for_update()
            .filter(pk=notice_id, status=SwapNotice.Status.PENDING)
            .first()
        )
        if notice is None:
            return 0
        SwapNotice.objects.filter(pk=notice.pk).update(attempts=F("attempts") + 1)
    swap = Swap.objects.select_related(
        "rotation__team", "requester", "taken_by", "offered_to", "approved_by", "cancelled_by"
    ).get(pk=notice.swap_id)
    kind = Event(notice.event)
    sent = 0
    for person in recipients(swap, kind):
        mail.send(message(swap, kind, person))
        sent += 1
    for hook in SWAP_HOOKS:
        try:
            hook(swap, kind)
        except Exception:  # a chat outage must not re-send the e-mails
            log.exception("swap #%s: hook %s failed for %s", swap.pk, hook, kind)
    SwapNotice.objects.filter(pk=notice.pk).update(
        status=SwapNotice.Status.SENT, sent_at=timezone.now(), error=""
    )
    return sent


def record_failure(notice_id: int, error: Exception, *, final: bool) -> None:
    """Keep the error; after the last retry the notice is marked failed."""
    status = SwapNotice.Status.FAILED if final else SwapNotice.Status.PENDING
    SwapNotice.objects.filter(pk=notice_id).update(error=str(error)[:2000], status=status)
    log.warning("swap notice %s failed (final=%s): %s", notice_id, final, error)
