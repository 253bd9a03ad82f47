"""What a chat-ops action does and says: one call of ``lifecycle.perform`` per reaction
or command, worded for the incident's thread."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from escalation.channels.matrix import render
from escalation.models import Incident
from escalation.services import lifecycle
from rotations.models import Person


def known(matrix_id: str) -> Person | None:
    return Person.objects.filter(matrix_id=matrix_id, active=True).first()


def act(action: str, incident: Incident, person: Person, **options: Any) -> tuple[bool, str]:
    """Do ``action`` for ``person``; (done, what to say in the thread)."""
    if action not in lifecycle.Action.values:
        return False, f"Unknown action {action!r}."
    if (
        action == lifecycle.Action.CLAIM
        and incident.state == Incident.State.CLAIMED
        and incident.claimed_by_id == person.pk
    ):
        return False, f"👀 {person.name} already claimed #{incident.pk}."
    until = None
    if action == lifecycle.Action.MUTE:
        seconds = options.get("seconds") or settings.MATRIX_MUTE_SECONDS
        until = timezone.now() + timedelta(seconds=seconds)
    try:
        lifecycle.perform(incident, action, by=person, channel="matrix", until=until)
    except lifecycle.InvalidMute as error:
        return False, f"Cannot mute #{incident.pk}: {error}"
    except lifecycle.InvalidState as error:
        incident = error.incident
        holder = f" by {incident.claimed_by.name}" if incident.claimed_by else ""
        return False, f"Cannot {action} #{incident.pk}: it is {incident.state}{holder}."
    return True, _done(lifecycle.Action(action), incident, person, until)


def _done(action: lifecycle.Action, incident: Incident, person: Person, until: Any) -> str:
    if action == lifecycle.Action.CLAIM:
        return f"👀 {person.name} claimed #{incident.pk}; re-pings stop."
    if action == lifecycle.Action.RESOLVE:
        return f"✅ {person.name} resolved #{incident.pk}."
    if action == lifecycle.Action.MUTE:
        return f"🔇 {person.name} muted #{incident.pk} until {render.day(until)}."
    if action == lifecycle.Action.UNMUTE:
        return f"🔈 {person.name} unmuted #{incident.pk}; escalation resumes."
    return f"↩️ {person.name} unclaimed #{incident.pk}; escalation resumes."
