"""The escalation engine. The database is the source of truth; the broker only wakes
workers up.

State lives on the incident: the policy snapshot, ``escalation_step`` /
``escalation_ping`` / ``escalation_round``, when the step first notified and
``next_escalation_at``. ``sweep`` (beat, every ESCALATION_TICK_SECONDS) locks due
incidents with ``SELECT … FOR UPDATE SKIP LOCKED`` in bounded batches and advances
them; ``advance`` tasks with an ETA only make pages come sooner. Losing every task
delays a page by at most one tick. Each page is a ``Notification`` row with a unique
key, created before anything is sent, so a second sweep, a re-run task or a second
worker can never page twice.

Policy semantics (docs/api.md): a step notifies its targets, then re-pings them
``repeat`` times every ``repeat_every_seconds`` while nobody claims; the next step
starts ``wait_seconds`` after the previous step's first notification (its re-pings
stop then); the policy's ``repeat`` runs the list again. A step that reaches nobody
says so in the timeline and the next step starts at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from escalation import rules, targets
from escalation.batch import Writes
from escalation.models import Incident, Notification, TimelineEntry
from escalation.targets import Recipient
from oncall.celery import MAX_ETA_SECONDS
from oncall.enqueue import enqueue_on_commit

log = logging.getLogger(__name__)

BATCH = 200
State = Incident.State
Kind = Notification.Kind


def notify(
    incident: Incident,
    recipients: Iterable[Recipient],
    *,
    kind: str,
    key: str,
    at: datetime,
    step: int = 0,
    round: int = 0,  # noqa: A002
    ping: int = 0,
    target: dict[str, Any] | None = None,
) -> list[int]:
    """Create the notification rows (unique ``key`` + recipient); return the new ids.

    The caller's transaction commits them; delivery sends them after (``Writes``)."""
    writes = Writes(at)
    writes.notify(
        incident, recipients, kind=kind, key=key, step=step, round=round, ping=ping, target=target
    )
    return writes.flush()


def schedule_advance(incident: Incident) -> None:
    """Wake a worker when the incident is next due (the sweep catches it anyway)."""
    _wake([incident])


def _wake(incidents: Iterable[Incident]) -> None:
    """One wake-up per due time (incidents advanced together are mostly due together)."""
    now = timezone.now()
    by_due: dict[datetime, list[int]] = {}
    for incident in incidents:
        due = incident.next_escalation_at
        if due is not None and due - now <= timedelta(seconds=MAX_ETA_SECONDS):
            by_due.setdefault(due, []).append(incident.pk)
    for due, ids in by_due.items():
        if len(ids) == 1:
            enqueue_on_commit(advance_task, ids[0], eta=max(due, now))
        else:
            enqueue_on_commit(advance_many_task, ids, eta=max(due, now))


def _step(incident: Incident) -> dict[str, Any]:
    return incident.policy["steps"][incident.escalation_step]  # type: ignore[index]


def _recipients(
    step: dict[str, Any], incident: Incident, at: datetime, kind: str
) -> tuple[list[tuple[int, Recipient]], list[str]]:
    """Who the step reaches, as the people's rules ask; and who is skipped for their
    quiet hours (handles)."""
    found: list[tuple[int, Recipient]] = []
    seen: set[tuple[str, str, int]] = set()
    quiet: list[str] = []
    for index, target in enumerate(step.get("notify", [])):
        applied = rules.apply(targets.resolve(target, incident, at), incident, kind, at)
        quiet.extend(p.handle for p in applied.quiet if p.handle not in quiet)
        for recipient in applied.recipients:
            if (recipient.channel, recipient.address, recipient.delay) not in seen:
                seen.add((recipient.channel, recipient.address, recipient.delay))
                found.append((index, recipient))
    return found, quiet


ESCALATION_FIELDS = (
    "escalation_step",
    "escalation_ping",
    "escalation_round",
    "escalation_step_at",
    "next_escalation_at",
)


def advance(incident: Incident, now: datetime) -> None:
    """Fire what is due on a locked, open, unmuted incident and set the next due time."""
    _advance_all([incident], now)


def _advance_all(incidents: list[Incident], now: datetime) -> None:
    """``advance`` for a batch of locked incidents: one write per table, then the
    wake-ups (delivery once, the next steps once per due time) after the commit."""
    writes = Writes(now)
    for incident in incidents:
        _advance(incident, now, writes, incidents)
    writes.flush()
    _wake(incidents)


def _advance(incident: Incident, now: datetime, writes: Writes, batch: list[Incident]) -> None:
    policy = incident.policy or {}
    steps = policy.get("steps") or []
    for _ in range(len(steps) * (int(policy.get("repeat", 0)) + 1) + 1):
        if incident.next_escalation_at is None or incident.escalation_step >= len(steps):
            incident.next_escalation_at = None
            break
        step = _step(incident)
        kind = Kind.PAGE if incident.escalation_ping == 0 else Kind.REPAGE
        recipients, quiet = _recipients(step, incident, now, kind)
        number = incident.escalation_step + 1
        if quiet:
            writes.note(
                incident,
                f"step {number}: skipped {', '.join(quiet)} (quiet hours)",
                TimelineEntry.Kind.SKIPPED,
            )
        if recipients:
            prefix = (
                f"{incident.pk}:r{incident.escalation_round}:s{incident.escalation_step}"
                f":p{incident.escalation_ping}"
            )
            for index, recipient in recipients:
                writes.notify(
                    incident,
                    [recipient],
                    kind=kind,
                    key=f"{prefix}:t{index}",
                    step=incident.escalation_step,
                    round=incident.escalation_round,
                    ping=incident.escalation_ping,
                    target=step["notify"][index],
                )
            who = ", ".join(r.label() for _, r in recipients)
            what = (
                f"step {number}: paging {who}"
                if incident.escalation_ping == 0
                else f"step {number}: re-ping {incident.escalation_ping} of "
                f"{step.get('repeat', 0)} to {who}"
            )
            writes.note(incident, what)
            if incident.escalation_ping == 0:
                incident.escalation_step_at = now
            _schedule_next(incident, steps, policy, now)
            break
        writes.note(incident, f"step {number} reaches nobody (a gap in the rotation?); moving on")
        incident.escalation_step_at = now
        incident.escalation_ping = int(step.get("repeat", 0))  # nothing to re-ping
        _schedule_next(incident, steps, policy, now, at_once=True)
    if incident.next_escalation_at is None:
        _finish(incident, now, writes, batch)
    writes.save(incident, *ESCALATION_FIELDS)


def next_step(incident: Incident) -> tuple[int, int] | None:
    """(round, step) that "escalate now" fires: the step after the last one that
    notified, or the pending step when it has not notified yet; None when the policy
    has nothing left (past its last step and its last round)."""
    policy = incident.policy or {}
    steps = policy.get("steps") or []
    step, round_ = incident.escalation_step, incident.escalation_round
    if step >= len(steps):
        return None
    if incident.escalation_ping == 0:  # ``step`` is due, not notified yet
        return round_, step
    if step + 1 < len(steps):
        return round_, step + 1
    if round_ < int(policy.get("repeat", 0)):
        return round_ + 1, 0
    return None


def escalate_now(incident: Incident, now: datetime) -> bool:
    """Fire the next step of a locked incident now, as if its time had come (its
    re-pings, then the following step ``wait_seconds`` after this one). False, and
    nothing changed, when the policy has no step left."""
    found = next_step(incident)
    if found is None:
        return False
    incident.escalation_round, incident.escalation_step = found
    incident.escalation_ping = 0
    incident.escalation_started_at = incident.escalation_started_at or now
    incident.next_escalation_at = now
    Incident.objects.filter(pk=incident.pk).update(
        escalation_started_at=incident.escalation_started_at
    )
    advance(incident, now)
    return True


def page_now(incident: Incident, recipients: list[Recipient], *, kind: str, key: str) -> None:
    """Page ``recipients`` about ``incident`` at once, outside the policy (a reassignment,
    an added responder): rows keyed ``key``, sent by the normal delivery path after the
    caller's transaction commits."""
    notify(incident, recipients, kind=kind, key=key, at=timezone.now())


def _schedule_next(
    incident: Incident,
    steps: list[dict[str, Any]],
    policy: dict[str, Any],
    now: datetime,
    *,
    at_once: bool = False,
) -> None:
    step = steps[incident.escalation_step]
    started = incident.escalation_step_at or now
    following = incident.escalation_step + 1
    next_step_at: datetime | None
    if following < len(steps):
        next_step_at = started + timedelta(seconds=int(steps[following].get("wait_seconds", 0)))
    elif incident.escalation_round < int(policy.get("repeat", 0)):
        next_step_at = started + timedelta(seconds=int(steps[0].get("wait_seconds", 0)))
    else:
        next_step_at = None
    repeat_at = now + timedelta(seconds=int(step.get("repeat_every_seconds", 0)))
    if incident.escalation_ping < int(step.get("repeat", 0)) and (
        next_step_at is None or repeat_at < next_step_at
    ):
        incident.escalation_ping += 1
        incident.next_escalation_at = repeat_at
        return
    incident.escalation_ping = 0
    if following < len(steps):
        incident.escalation_step = following
    elif next_step_at is not None:
        incident.escalation_step = 0
        incident.escalation_round += 1
    else:
        incident.escalation_step = len(steps)
        incident.next_escalation_at = None
        return
    incident.next_escalation_at = now if at_once else max(next_step_at, now)  # type: ignore[type-var]


def _finish(incident: Incident, now: datetime, writes: Writes, batch: list[Incident]) -> None:
    """The policy ran out. If it reached nobody at all, tell the team (or the fallback)."""
    if writes.paged(incident, batch):
        writes.note(incident, "escalation finished: nobody claimed the incident")
        return
    team = incident.repo_ref.team if incident.repo_ref and incident.repo_ref.team_id else None
    recipients = targets.team_recipients(team, incident)
    fallback = getattr(settings, "ONCALL_FALLBACK_EMAIL", None)
    if not recipients and fallback:
        recipients = [Recipient(Notification.Channel.EMAIL, fallback)]
    if recipients:
        writes.notify(incident, recipients, kind=Kind.FALLBACK, key=f"{incident.pk}:fallback")
        writes.note(
            incident,
            "the policy reached nobody; telling " + ", ".join(r.label() for r in recipients),
        )
    else:
        writes.note(
            incident, "the policy reached nobody and there is no team or fallback address to tell"
        )
        log.error("incident %s reached nobody", incident.pk)


def _remind(incident: Incident, now: datetime, writes: Writes) -> None:
    """The claim timeout ran out: re-notify the claimer, then again after each timeout."""
    timeout = int((incident.policy or {}).get("claim_timeout_seconds", 0))
    recipients = targets.for_person(incident.claimed_by, incident)
    stamp = int(incident.remind_at.timestamp()) if incident.remind_at else 0
    writes.notify(
        incident, recipients, kind=Kind.CLAIM_REMINDER, key=f"{incident.pk}:remind:{stamp}"
    )
    minutes = int((now - (incident.claimed_at or now)).total_seconds() // 60)
    writes.note(
        incident,
        f"claimed {minutes} min ago and not resolved: reminding "
        + (", ".join(r.label() for r in recipients) or "nobody"),
    )
    incident.remind_at = now + timedelta(seconds=timeout) if timeout else None
    writes.save(incident, "remind_at")


def due(now: datetime) -> Q:
    """Open, unmuted incidents whose next escalation is due (the ``incident_due`` index)."""
    return Q(state=State.OPEN, next_escalation_at__lte=now) & (
        Q(muted_until__isnull=True) | Q(muted_until__lte=now)
    )


def _lock_due(now: datetime, ids: list[int] | None = None) -> list[Incident]:
    """Up to ``BATCH`` due incidents (of ``ids``) no other worker holds, locked."""
    query = (
        Incident.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("repo_ref")
        .filter(due(now))
    )
    if ids is not None:
        query = query.filter(pk__in=ids)
    return list(query.order_by("next_escalation_at")[:BATCH])


def advance_one(incident_id: int) -> bool:
    """The ETA task's work: advance this incident if it is (still) due; False otherwise."""
    return advance_ids([incident_id]) == 1


def advance_ids(incident_ids: list[int]) -> int:
    """Advance those of the incidents that are (still) due and no other worker holds
    (claimed, muted or moved on meanwhile: left alone); how many were advanced."""
    now = timezone.now()
    done = 0
    for start in range(0, len(incident_ids), BATCH):
        with transaction.atomic():
            batch = _lock_due(now, incident_ids[start : start + BATCH])
            _advance_all(batch, now)
        done += len(batch)
    return done


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Advance due incidents and remind claimers, in batches of ``BATCH`` per transaction."""
    now = now or timezone.now()
    counts = {"advanced": 0, "reminded": 0}
    while True:
        with transaction.atomic():
            batch = _lock_due(now)
            _advance_all(batch, now)
        counts["advanced"] += len(batch)
        if len(batch) < BATCH:
            break
    with transaction.atomic():
        claims = list(
            Incident.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("claimed_by")
            .filter(state=State.CLAIMED, remind_at__lte=now)[:BATCH]
        )
        writes = Writes(now)
        for incident in claims:
            _remind(incident, now, writes)
        writes.flush()
        counts["reminded"] = len(claims)
    return counts


@shared_task(name="escalation.tasks.advance", ignore_result=True)
def advance_task(incident_id: int) -> bool:
    """Advance one incident now (enqueued with an ETA by ``schedule_advance``)."""
    return advance_one(incident_id)


@shared_task(name="escalation.tasks.advance_many", ignore_result=True)
def advance_many_task(incident_ids: list[int]) -> int:
    """Advance several incidents due at the same time (a sweep batch's next steps)."""
    return advance_ids(incident_ids)
