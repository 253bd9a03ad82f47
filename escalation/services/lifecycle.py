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

from escalation import changes, engine, forwarding
from escalation.models import Incident, Occurrence, TimelineEntry
from rotations.models import Person

State = Incident.State
Kind = TimelineEntry.Kind


MAX_MUTE = Incident.MAX_MUTE  # the one mute limit of every channel (90 days)


class Action(models.TextChoices):
    """Everything a person can do to an incident; every channel goes through ``perform``."""

    CLAIM = "claim"
    UNCLAIM = "unclaim"
    RESOLVE = "resolve"
    MUTE = "mute"
    UNMUTE = "unmute"


class InvalidMute(ValueError):
    """The mute end is missing, not in the future, or further away than ``MAX_MUTE``."""


class InvalidState(Exception):
    def __init__(self, incident: Incident, action: str) -> None:
        super().__init__(f"Cannot {action} incident {incident.pk}: it is {incident.state}.")
        self.incident = incident


def _note(
    incident: Incident,
    kind: str,
    actor: Person | None,
    channel: str,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        actor=actor,
        channel=channel,
        detail=detail,
        at=at or timezone.now(),
    )
    changes.incident_changed(incident.pk, soon=True)


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
) -> Incident:
    """Do ``action`` on ``incident`` as ``by`` through ``channel``: the one entry for every
    channel, which keeps only its own parsing and wording. ``until`` is the mute's end
    (required for, and only for, ``mute``); ``note`` goes on a resolve's timeline entry.
    Raises ``InvalidState`` when the action does not fit the incident's state,
    ``InvalidMute`` for a bad mute end, ``ValueError`` for an unknown action."""
    action = Action(action)
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
