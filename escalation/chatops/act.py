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


VERBS: dict[str, str] = {
    lifecycle.Action.ADD_RESPONDER: "add a responder to",
    lifecycle.Action.NOTE: "note on",
}
#: Chat words for actions whose name in ``lifecycle.Action`` differs.
ALIASES = {"responder": lifecycle.Action.ADD_RESPONDER}


def act(action: str, incident: Incident, person: Person, **options: Any) -> tuple[bool, str]:
    """Do ``action`` for ``person``; (done, what to say in the thread). Options:
    ``seconds`` of a mute, ``to`` of a reassign or responder, ``text`` of a note."""
    action = ALIASES.get(action, action)
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
    to, text = options.get("to"), options.get("text", "")
    try:
        lifecycle.perform(
            incident, action, by=person, channel="matrix", until=until, to=to, note=text
        )
    except lifecycle.InvalidMute as error:
        return False, f"Cannot mute #{incident.pk}: {error}"
    except lifecycle.InvalidTarget as error:
        return False, f"Cannot {VERBS.get(action, action)} #{incident.pk}: {error}"
    except lifecycle.InvalidState as error:
        incident = error.incident
        if error.reason:
            return False, str(error)
        holder = f" by {incident.claimed_by.name}" if incident.claimed_by else ""
        return False, f"Cannot {action} #{incident.pk}: it is {incident.state}{holder}."
    if action in _MORE:
        return True, _MORE[lifecycle.Action(action)].format(
            person=person.name, pk=incident.pk, to=to, text=text.strip()[:300]
        )
    return True, _done(lifecycle.Action(action), incident, person, until)


_MORE = {
    lifecycle.Action.ESCALATE: "⬆️ {person} escalated #{pk}: the next step is paged now.",
    lifecycle.Action.REASSIGN: "👉 {person} reassigned #{pk} to {to}, who is paged now.",
    lifecycle.Action.ADD_RESPONDER: "🙋 {person} added {to} as a responder on #{pk}.",
    lifecycle.Action.NOTE: "📝 {person} on #{pk}: {text}",
}


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
