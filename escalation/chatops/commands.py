"""Text commands in a room: ``!oncall [repo]``, ``!claim N``, ``!resolve N``,
``!unclaim N``, ``!mute N 2h``, ``!escalate N``, ``!reassign N who``,
``!responder N who``, ``!note N text``, ``!topic``, ``!help``; swaps (``!swap``,
``!take``, ``!cover``) are done by ``chatops.swaps``.

Actions are confirmed in the incident's thread; answers go in reply to the command.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from escalation import selectors
from escalation.channels.matrix import channel, render, topic
from escalation.channels.matrix.client import MatrixError
from escalation.chatops import swaps
from escalation.chatops.act import act, known
from escalation.models import Incident, MatrixEvent, Repo
from escalation.services import lifecycle
from rotations.models import Person, Team
from rotations.selectors import person_by_reference


class Listener(Protocol):
    """What a command needs of the listener that read it (``chatops.listener``)."""

    def record(self, room_id: str, event: dict[str, Any], kind: str, **fields: Any) -> bool: ...

    def confirm(self, incident: Incident, room_id: str, text: str, event_id: str) -> None: ...


log = logging.getLogger(__name__)

HELP = (
    "Commands: !oncall [repo] — who is on call (for a repo) · !claim N · !resolve N · "
    "!unclaim N · !mute N 2h (m, h, d, w) · !escalate N — page the next step now · "
    "!reassign N @who — claim it for them and page them · !responder N who — page a "
    "person or team to help · !note N text — on the timeline · "
    "!topic — refresh the room topic · !help. "
    "Or react on an incident message: {reactions}. Swaps: !swap 2026-12-10..2026-12-17 — "
    "ask for cover (handoff days) · !take N (or react ✅ on it) · !cover [@who] 2w."
)
DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
SWAPS = ("swap", "take", "cover")
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
ACTIONS = ("claim", "resolve", "unclaim", "mute", "escalate", "reassign", "responder", "note")
USAGE = {"mute": " 2h", "reassign": " @who", "responder": " who", "note": " text"}


def duration(text: str) -> timedelta | None:
    """``90m``, ``2h``, ``1d``, ``1w`` → a timedelta (None when not one, or longer than
    the one mute limit, ``lifecycle.MAX_MUTE``)."""
    match = DURATION.match(text.strip().lower())
    if not match:
        return None
    span = timedelta(seconds=int(match[1]) * UNITS[match[2]])
    return span if timedelta(0) < span <= lifecycle.MAX_MUTE else None


def run(listener: Listener, room_id: str, event: dict[str, Any], body: str) -> bool:
    """Handle one command message; True when it changed an incident."""
    words = body.strip().split()
    name, args = words[0][1:].lower(), words[1:]
    if name not in ("oncall", "topic", "help", *ACTIONS, *SWAPS):
        return False
    if not listener.record(room_id, event, MatrixEvent.Kind.COMMAND, text=body[:500]):
        return False
    sender = event.get("sender", "")
    if name == "help":
        return _answer(listener, room_id, event, HELP.format(reactions=render.reactions_help()))
    if name == "oncall":
        return _answer(listener, room_id, event, oncall_text(room_id, args[0] if args else ""))
    if name == "topic":
        try:
            changed = topic.update(room_id)
        except MatrixError as error:
            return _answer(listener, room_id, event, f"Could not set the topic: {error}")
        return _answer(
            listener, room_id, event, "Topic updated." if changed else "Topic is current."
        )
    person = known(sender)
    if person is None:
        log.info("matrix: %s sent %r; not a known person", sender, body[:100])
        return _answer(listener, room_id, event, f"{sender} is not a known person here.")
    if name in SWAPS:
        done, text = swaps.run(room_id, person, name, args)
        MatrixEvent.objects.filter(event_id=event["event_id"]).update(
            person=person, action=name if done else ""
        )
        _answer(listener, room_id, event, text)
        return done
    needs_more = name in ("reassign", "responder", "note")
    if not args or not args[0].lstrip("#").isdigit() or (needs_more and len(args) < 2):
        return _answer(listener, room_id, event, f"Usage: !{name} N{USAGE.get(name, '')}")
    incident = Incident.objects.filter(pk=int(args[0].lstrip("#"))).first()
    if incident is None:
        return _answer(listener, room_id, event, f"There is no incident #{args[0].lstrip('#')}.")
    options: dict[str, Any] = {}
    if name == "mute" and len(args) > 1:
        span = duration(args[1])
        if span is None:
            limit = lifecycle.MAX_MUTE.days
            return _answer(
                listener, room_id, event, f"Mute for 90m, 2h, 1d or 1w (at most {limit} days)."
            )
        options["seconds"] = int(span.total_seconds())
    if name in ("reassign", "responder"):
        to = _named(args[1], event, teams=name == "responder")
        if to is None:
            return _answer(listener, room_id, event, f"Nobody here is {args[1]!r}.")
        options["to"] = to
    if name == "note":
        options["text"] = body.strip().split(maxsplit=2)[2]
    with transaction.atomic():
        done, text = act(name, incident, person, **options)
        MatrixEvent.objects.filter(event_id=event["event_id"]).update(
            incident=incident, person=person, action=name if done else "", outcome=text[:500]
        )
    listener.confirm(incident, room_id, text, event["event_id"])
    return done


def _named(reference: str, event: dict[str, Any], *, teams: bool) -> Person | Team | None:
    """The person (or, for a responder, team) a command names: a Matrix ID, handle,
    e-mail or team slug, else the user a client's mention pill names (``m.mentions``;
    the plain body then carries a display name)."""
    found = selectors.person_or_team(reference) if teams else person_by_reference(reference)
    if found is not None:
        return found
    mentioned = ((event.get("content") or {}).get("m.mentions") or {}).get("user_ids") or []
    return known(mentioned[0]) if mentioned and isinstance(mentioned[0], str) else None


def _answer(listener: Listener, room_id: str, event: dict[str, Any], text: str) -> bool:
    MatrixEvent.objects.filter(event_id=event["event_id"]).update(outcome=text[:500])
    content = render.notice(text)
    content["m.relates_to"] = {"m.in_reply_to": {"event_id": event["event_id"]}}
    relation = (event.get("content") or {}).get("m.relates_to") or {}
    if relation.get("rel_type") == "m.thread":
        content["m.relates_to"] = render.in_thread(relation["event_id"], "", "", notify=[])[
            "m.relates_to"
        ] | {"m.in_reply_to": {"event_id": event["event_id"]}, "is_falling_back": False}
    try:
        channel.client().send(room_id, content, key=f"answer:{event['event_id']}")
    except MatrixError as error:
        log.warning("matrix: could not answer in %s: %s", room_id, error)
    return False


def oncall_text(room_id: str, repo_name: str, at: datetime | None = None) -> str:
    """Who is on call: for a repo, or for the rotations of this room."""
    at = at or timezone.now()
    if repo_name:
        repo = Repo.objects.select_related("rotation").filter(name=repo_name).first()
        if repo is None:
            return f"No repo {repo_name!r}."
        if repo.rotation is None:
            return f"Nobody is responsible for {repo.name}: it has no rotation."
        return f"{repo.name}: " + topic.describe([repo.rotation], at)
    rotations = topic.rotations_for_room(room_id)
    if not rotations:
        return "No rotation belongs to this room. Try !oncall <repo>."
    return topic.describe(rotations, at)
