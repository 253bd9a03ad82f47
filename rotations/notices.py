"""Handoff notices: tell the incoming person before their shift and when it starts.

Each notice is a ``HandoffNotice`` row created before anything is sent; its
unique key (rotation, person, shift start, kind) lets exactly one process win.
The e-mail comes from ``rotations/email/handoff.txt`` and goes through the shared
mail path (``oncall.mail``: a ``Message-ID`` derived from the row, SMTP errors
classified); other channels (Matrix) are plugged into ``HANDOFF_HOOKS`` by
``escalation.plugins``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from oncall import mail
from rotations import schedule, selectors
from rotations.models import HandoffNotice, Rotation

log = logging.getLogger(__name__)

# How late a "your shift started" notice may still go out (a beat outage shorter
# than this delays notices; a longer one skips the stale ones).
STARTED_GRACE = timedelta(minutes=30)

# Called with each notice after its e-mail went out: fn(notice). Filled by
# escalation.plugins: the Matrix channel posts the handoff in the team room.
HANDOFF_HOOKS: list[Callable[[HandoffNotice], None]] = []


# How far back to look for the piece an active window's opening continues: pieces of
# one turn are less than a week apart.
WINDOW_LOOK_BACK = timedelta(days=8)


def _handoffs(
    loaded: selectors.LoadedRotation, shifts: list[schedule.Shift]
) -> list[schedule.Shift]:
    """Shifts that start a new person's duty: not a continuation of the same person, be it
    right after the previous piece or after time outside the active windows (a turn of
    Mon–Fri 09:00–17:00 is one handoff, not five)."""
    return [
        s
        for prev, s in zip([None, *shifts], shifts, strict=False)
        if s.person is not None
        and not (prev and schedule.same(prev.person, s.person) and prev.end == s.start)
        and not loaded.resumes(prev, s)
    ]


def due_notices(now: datetime) -> list[tuple[Rotation, schedule.Shift, HandoffNotice.Kind]]:
    """Handoffs starting within the notice lead time, or that started within the grace."""
    lead = timedelta(hours=settings.ONCALL_HANDOFF_NOTICE_HOURS)
    # One microsecond wider, so the shift before each handoff is there to compare with.
    start, end = now - STARTED_GRACE - schedule.EPSILON, now + lead + schedule.EPSILON
    due = []
    for loaded in selectors.load(Rotation.objects.all(), (start - WINDOW_LOOK_BACK, end)):
        windowed = any(d.windows for d in loaded.versions)
        shifts = loaded.shifts(start - WINDOW_LOOK_BACK if windowed else start, end)
        for shift in _handoffs(loaded, shifts):
            if now < shift.start <= now + lead:
                due.append((loaded.rotation, shift, HandoffNotice.Kind.UPCOMING))
            elif now - STARTED_GRACE <= shift.start <= now:
                due.append((loaded.rotation, shift, HandoffNotice.Kind.STARTED))
    return due


def claim_notices(now: datetime) -> list[int]:
    """Create the rows of due notices; return the ids this process created (and must send)."""
    created = []
    for rotation, shift, kind in due_notices(now):
        assert shift.person is not None  # noqa: S101 (_handoffs drops gaps)
        try:
            with transaction.atomic():
                notice = HandoffNotice.objects.create(
                    rotation=rotation,
                    person_id=shift.person.pk,
                    shift_start=shift.start,
                    shift_end=shift.end,
                    kind=kind,
                )
        except IntegrityError:
            continue  # another process has it
        created.append(notice.pk)
    return created


def deliver(notice_id: int) -> bool:
    """Send one pending notice by e-mail (and hooks); True when this call sent it."""
    with transaction.atomic():
        notice = (
            HandoffNotice.objects.select_for_update()
            .select_related("person", "rotation")
            .filter(pk=notice_id, status=HandoffNotice.Status.PENDING)
            .first()
        )
        if notice is None:
            return False
        HandoffNotice.objects.filter(pk=notice.pk).update(attempts=F("attempts") + 1)
    if notice.person.email:
        mail.send(message(notice))
    for hook in HANDOFF_HOOKS:
        hook(notice)
    HandoffNotice.objects.filter(pk=notice.pk).update(
        status=HandoffNotice.Status.SENT, sent_at=timezone.now(), error=""
    )
    return True


def message(notice: HandoffNotice) -> EmailMultiAlternatives:
    """The e-mail of ``notice``, in the incoming person's time zone; its ``Message-ID``
    is derived from the row, so a retry sends the same message."""
    person, rotation = notice.person, notice.rotation
    zone = ZoneInfo(person.timezone or "UTC")
    local = notice.shift_start.astimezone(zone)
    if notice.kind == HandoffNotice.Kind.UPCOMING:
        subject = f"[oncall] You are on call for {rotation.name} from {local:%a %d %b %H:%M %Z}"
    else:
        subject = f"[oncall] You are now on call for {rotation.name}"
    context = {
        "person": person,
        "rotation": rotation,
        "start": notice.shift_start,
        "end": notice.shift_end,
        "schedule_url": (
            f"{settings.ONCALL_BASE_URL.rstrip('/')}/api/v1/rotations/{rotation.slug}/shifts/"
        ),
    }
    with timezone.override(zone):
        body = render_to_string("rotations/email/handoff.txt", context)
    return EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        headers={"Message-ID": mail.message_id(f"h{notice.pk}"), **mail.AUTOMATIC},
    )


def record_failure(notice_id: int, error: Exception, *, final: bool) -> None:
    """Keep the error on the row; after the last retry the notice is marked failed."""
    status = HandoffNotice.Status.FAILED if final else HandoffNotice.Status.PENDING
    HandoffNotice.objects.filter(pk=notice_id).update(error=str(error)[:2000], status=status)
    log.warning("handoff notice %s failed (final=%s): %s", notice_id, final, error)
