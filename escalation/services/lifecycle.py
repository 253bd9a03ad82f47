"""Incident lifecycle: open → claimed → resolved, mute/unmute, recovery.

Every transition is a compare-and-set ``UPDATE … WHERE state = old`` that must change
exactly one row, so two bots acting at once never leave a corrupt state: one wins,
the other gets ``InvalidState``. Each transition writes a timeline entry.

Escalation state stays on the incident while it is claimed or muted; the engine only
advances open, unmuted incidents, so unclaim and unmute resume where it stood.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from escalation import changes, engine, forwarding, targets
from escalation.models import Incident, Notification, Occurrence, Responder, TimelineEntry
from rotations.models import Person, Team

State = Incident.State
Kind = TimelineEntry.Kind


MAX_MUTE = Incident.MAX_MUTE  # the one mute limit of every channel (90 days)
NOTE_MAX = 2000  # characters of a note, whichever channel writes it


class Action(models.TextChoices):
    """Everything a person can do to an incident; every channel goes through ``perform``."""

    CLAIM = "claim"
    UNCLAIM = "unclaim"
    RESOLVE = "resolve"
    MUTE = "mute"
    UNMUTE = "unmute"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    ADD_RESPONDER = "add_responder"
    NOTE = "note"


class InvalidMute(ValueError):
    """The mute end is missing, not in the future, or further away than ``MAX_MUTE``."""


class InvalidState(Exception):
    """The action does not fit the incident's state (409); ``reason`` says why in words
    when "it is <state>" would not."""

    def __init__(self, incident: Incident, action: str, reason: str = "") -> None:
        super().__init__(
            f"Cannot {action} incident {incident.pk}: {reason or f'it is {incident.state}'}."
        )
        self.incident = incident
        self.reason = reason


class InvalidTarget(ValueError):
    """The person or team named for a reassignment, a responder or a note is not one
    (an inactive person, no team, an empty or too long note): a 400."""


def _note(
    incident: Incident,
    kind: str,
    actor: Person | None,
    channel: str,
    detail: str = "",
    at: datetime | None = None,
) -> TimelineEntry:
    entry = TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        actor=actor,
        channel=channel,
        detail=detail,
        at=at or timezone.now(),
    )
    changes.incident_changed(incident.pk, soon=True)
    return entry


def _transition(incident: Incident, action: str, allowed: Q, **changes: object) -> Incident:
    updated = Incident.objects.filter(allowed, pk=incident.pk).update(**changes)
    incident.refresh_from_db()
    if updated != 1:
        raise InvalidState(incident, action)
    return incident


def perform(
    incident: Incident,
    action: Action | str,
    *,
    by: Person,
    channel: str,
    until: datetime | None = None,
    note: str = "",
    to: Person | Team | None = None,
) -> Incident:
    """Do ``action`` on ``incident`` as ``by`` through ``channel``: the one entry for every
    channel, which keeps only its own parsing and wording. ``until`` is the mute's end
    (required for, and only for, ``mute``); ``note`` goes on a resolve's timeline entry
    and is the text of a ``note``; ``to`` is the person of a ``reassign`` and the person
    or team of an ``add_responder``.
    Raises ``InvalidState`` when the action does not fit the incident's state,
    ``InvalidMute`` for a bad mute end, ``InvalidTarget`` for a bad ``to`` or note,
    ``ValueError`` for an unknown action."""
    action = Action(action)
    if action in _MORE:
        return _MORE[action](incident, by, channel, to=to, note=note)
    if action == Action.MUTE:
        if until is None:
            raise InvalidMute("A mute needs an end.")
        return mute(incident, by, channel, until)
    if action == Action.CLAIM:
        return claim(incident, by, channel)
    if action == Action.UNCLAIM:
        return unclaim(incident, by, channel)
    if action == Action.RESOLVE:
        return resolve(incident, by, channel, note)
    return unmute(incident, by, channel)


def check_mute_end(until: datetime, now: datetime | None = None) -> None:
    """Raise ``InvalidMute`` unless ``until`` is in the future and within ``MAX_MUTE``."""
    now = now or timezone.now()
    if until <= now:
        raise InvalidMute("The mute must end in the future.")
    if until - now > MAX_MUTE:
        raise InvalidMute(f"A mute can last at most {MAX_MUTE.days} days.")


@transaction.atomic
def claim(incident: Incident, by: Person, channel: str) -> Incident:
    """Claim an open incident. Claiming again by the claimer is a no-op, by anyone else 409."""
    now = timezone.now()
    if incident.state == State.CLAIMED and incident.claimed_by_id == by.pk:
        return incident
    timeout = int((incident.policy or {}).get("claim_timeout_seconds", 0))
    remind_at = now + timedelta(seconds=timeout) if timeout else None
    _transition(
        incident,
        "claim",
        Q(state=State.OPEN),
        state=State.CLAIMED,
        claimed_by=by,
        claimed_at=now,
        remind_at=remind_at,
    )
    _note(incident, Kind.CLAIMED, by, channel, at=now)
    return incident


@transaction.atomic
def unclaim(incident: Incident, by: Person, channel: str) -> Incident:
    _transition(
        incident,
        "unclaim",
        Q(state=State.CLAIMED),
        state=State.OPEN,
        claimed_by=None,
        claimed_at=None,
        remind_at=None,
    )
    _note(incident, Kind.UNCLAIMED, by, channel, "escalation resumes")
    engine.schedule_advance(incident)
    return incident


@transaction.atomic
def resolve(incident: Incident, by: Person | None, channel: str, note: str = "") -> Incident:
    return _close(incident, by, channel, note, timezone.now())


def _close(
    incident: Incident, by: Person | None, channel: str, detail: str, now: datetime
) -> Incident:
    """Resolve (stops escalation and reminders) and tell forwarded contacts."""
    _transition(
        incident,
        "resolve",
        Q(state__in=[State.OPEN, State.CLAIMED]),
        state=State.RESOLVED,
        resolved_by=by,
        resolved_at=now,
        next_escalation_at=None,
        remind_at=None,
    )
    _note(incident, Kind.RESOLVED, by, channel, detail, at=now)
    forwarding.forward_resolution(incident, now)
    return incident


@transaction.atomic
def mute(incident: Incident, by: Person, channel: str, until: datetime) -> Incident:
    now = timezone.now()
    check_mute_end(until, now)
    _transition(incident, "mute", Q(state__in=[State.OPEN, State.CLAIMED]), muted_until=until)
    _note(incident, Kind.MUTED, by, channel, f"until {until.isoformat()}", at=now)
    return incident


@transaction.atomic
def unmute(incident: Incident, by: Person, channel: str) -> Incident:
    now = timezone.now()
    _transition(
        incident,
        "unmute",
        Q(state__in=[State.OPEN, State.CLAIMED], muted_until__gt=now),
        muted_until=None,
    )
    _note(incident, Kind.UNMUTED, by, channel, at=now)
    engine.schedule_advance(incident)
    return incident


@transaction.atomic
def escalate(
    incident: Incident, by: Person, channel: str, *, to: object = None, note: str = ""
) -> Incident:
    """Page the policy's next step now (``engine.next_step``), then carry on from there.

    Escalating a claimed incident ends the claim (the next level takes over, as
    PagerDuty un-acknowledges); a mute ends too. The row is locked and its step
    compared with the one the caller saw: of two escalations racing from the same
    step one fires the next step, the other finds it moved on and does nothing.
    ``InvalidState`` when resolved, without a policy, or past the policy's last step."""
    seen = (incident.escalation_round, incident.escalation_step, incident.escalation_ping)
    locked = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("repo_ref", "claimed_by")
        .get(pk=incident.pk)
    )
    if locked.state == State.RESOLVED:
        raise InvalidState(locked, "escalate")
    if (locked.escalation_round, locked.escalation_step, locked.escalation_ping) != seen:
        incident.refresh_from_db()
        return incident  # escalated meanwhile, by someone else or by its time coming
    steps = (locked.policy or {}).get("steps") or []
    following = engine.next_step(locked)
    if not steps:
        raise InvalidState(locked, "escalate", "it has no escalation policy")
    if following is None:
        name = (locked.policy or {}).get("name", "")
        raise InvalidState(
            locked, "escalate", f"the policy {name} has no further step (it is at its last)"
        )
    now = timezone.now()
    detail = f"now to step {following[1] + 1} of {len(steps)}"
    if locked.state == State.CLAIMED and locked.claimed_by is not None:
        detail += f"; {locked.claimed_by.handle}'s claim ends"
    if locked.is_muted(now):
        detail += "; the mute ends"
    Incident.objects.filter(pk=locked.pk).update(
        state=State.OPEN, claimed_by=None, claimed_at=None, remind_at=None, muted_until=None
    )
    locked.refresh_from_db()
    _note(locked, Kind.ESCALATED, by, channel, detail, at=now)
    engine.escalate_now(locked, now)
    incident.refresh_from_db()
    return incident


@transaction.atomic
def reassign(
    incident: Incident, by: Person, channel: str, *, to: object = None, note: str = ""
) -> Incident:
    """Claim the incident for ``to`` (an active person) and page them at once (a
    notification of kind ``assigned``). Reassigning to the claimer is a no-op."""
    if not isinstance(to, Person) or not to.active:
        raise InvalidTarget("Reassign to an active person.")
    if incident.state == State.CLAIMED and incident.claimed_by_id == to.pk:
        return incident
    was = incident.claimed_by
    now = timezone.now()
    timeout = int((incident.policy or {}).get("claim_timeout_seconds", 0))
    _transition(
        incident,
        "reassign",
        Q(state__in=[State.OPEN, State.CLAIMED]),
        state=State.CLAIMED,
        claimed_by=to,
        claimed_at=now,
        remind_at=now + timedelta(seconds=timeout) if timeout else None,
    )
    recipients = targets.for_person(to, incident)
    entry = _note(incident, Kind.REASSIGNED, by, channel, _reassigned(to, was, recipients), now)
    engine.page_now(
        incident, recipients, kind=Notification.Kind.ASSIGNED, key=f"{incident.pk}:as{entry.pk}"
    )
    return incident


def _reassigned(to: Person, was: Person | None, recipients: list[targets.Recipient]) -> str:
    text = f"to {to.handle}" + (f" (was {was.handle})" if was else "")
    return text + "; paging " + (", ".join(r.label() for r in recipients) or "nobody (no address)")


@transaction.atomic
def add_responder(
    incident: Incident, by: Person, channel: str, *, to: object = None, note: str = ""
) -> Incident:
    """Bring ``to`` (an active person, or a team) in and page them at once (kind
    ``responder``); the claim stays. Adding a responder again is a no-op: one row,
    one page."""
    who: dict[str, Person | Team]
    if isinstance(to, Person) and to.active:
        who, name = {"person": to}, to.handle
        recipients = targets.for_person(to, incident)
    elif isinstance(to, Team):
        who, name = {"team": to}, f"team {to.slug}"
        recipients = targets.team_recipients(to, incident)
    else:
        raise InvalidTarget("Add an active person or a team.")
    locked = Incident.objects.select_for_update(of=("self",)).get(pk=incident.pk)
    if locked.state == State.RESOLVED:
        raise InvalidState(locked, "add a responder to")
    now = timezone.now()
    row, created = Responder.objects.get_or_create(
        incident=locked, **who, defaults={"added_by": by, "added_at": now}
    )
    if created:
        labels = ", ".join(r.label() for r in recipients) or "nobody (no address)"
        _note(incident, Kind.RESPONDER_ADDED, by, channel, f"{name}; paging {labels}", now)
        tag = f"p{to.pk}" if "person" in who else f"t{to.pk}"
        engine.page_now(
            incident, recipients, kind=Notification.Kind.RESPONDER, key=f"{incident.pk}:rs{tag}"
        )
    incident.refresh_from_db()
    return incident


def add_note(
    incident: Incident, by: Person, channel: str, *, to: object = None, note: str = ""
) -> Incident:
    """Free text on the timeline (kind ``note``), in any state, resolved included (a
    post-mortem remark). ``InvalidTarget`` when empty or longer than ``NOTE_MAX``."""
    text = note.strip()
    if not text:
        raise InvalidTarget("A note needs some text.")
    if len(text) > NOTE_MAX:
        raise InvalidTarget(f"A note has at most {NOTE_MAX} characters.")
    _note(incident, Kind.NOTE, by, channel, text)
    return incident


_MORE = {
    Action.ESCALATE: escalate,
    Action.REASSIGN: reassign,
    Action.ADD_RESPONDER: add_responder,
    Action.NOTE: add_note,
}


def recover(dedup_key: str, *, now: datetime) -> Incident | None:
    """A success report: resolve the unresolved incident of this key (``resolved_by`` None)."""
    incident = Incident.objects.filter(dedup_key=dedup_key).exclude(state=State.RESOLVED).first()
    if incident is None:
        return None
    try:
        return _close(incident, None, incident.source, "recovered: the job passed again", now)
    except InvalidState:
        return None  # resolved meanwhile


def start_escalation_if_due(incident: Incident, now: datetime) -> bool:
    """Start paging once the route's threshold is met (flaky jobs stay quiet until
    ``min_occurrences`` happened within ``window_seconds``): forward to the route's
    contacts and start the policy, the first page right away when it waits 0 s."""
    if incident.min_occurrences > 1:
        query = Occurrence.objects.filter(incident=incident)
        if incident.window_seconds:
            query = query.filter(received_at__gt=now - timedelta(seconds=incident.window_seconds))
        if query.count() < incident.min_occurrences:
            return False
    steps = (incident.policy or {}).get("steps") or []
    first_wait = int(steps[0].get("wait_seconds", 0)) if steps else 0
    incident.escalation_started_at = now
    incident.next_escalation_at = now + timedelta(seconds=first_wait) if steps else None
    Incident.objects.filter(pk=incident.pk).update(
        escalation_started_at=incident.escalation_started_at,
        next_escalation_at=incident.next_escalation_at,
    )
    forwarding.forward(incident, now)
    engine.schedule_advance(incident)
    return True
