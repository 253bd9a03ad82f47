"""The Matrix listener: long-polls ``/sync`` and acts on reactions, redactions and
text commands in the rooms the bot is in; joins rooms it is invited to.

The ``since`` token is stored in the database after each batch is handled, so a
restart resumes where it stood: nothing missed, nothing replayed. Each handled event
is a ``MatrixEvent`` row with a unique event id, written in the same transaction as
the action, so even a batch handled twice (a crash before the token was stored)
acts once. On the very first start the bot only takes the current position: what
happened in its rooms before it listened is history, not orders.

A sync whose timeline was cut (``limited``: more events than the filter's limit) is
completed from ``/messages`` back to the previous position before anything is handled.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from escalation.channels.matrix import channel, render, topic
from escalation.channels.matrix.client import MatrixClient, MatrixError
from escalation.chatops import commands, swaps
from escalation.chatops.act import act, known
from escalation.models import Incident, MatrixEvent, MatrixMessage, MatrixSync
from escalation.services import lifecycle
from rotations.models import SwapMessage

log = logging.getLogger(__name__)

TYPES = ["m.reaction", "m.room.redaction", "m.room.message"]
FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        "timeline": {"types": TYPES, "limit": 100},
        "state": {"types": [], "lazy_load_members": True},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}
Kind = MatrixEvent.Kind


def normalize(key: str) -> str:
    """Compare emoji without variation selectors (👀 and 👀\\ufe0f are one key)."""
    return unicodedata.normalize("NFC", key).replace("\ufe0f", "").replace("\ufe0e", "")


def reaction_actions() -> dict[str, str]:
    return {normalize(key): action for key, action in settings.MATRIX_REACTIONS.items()}


class Listener:
    def __init__(self, client: MatrixClient, *, timeout_ms: int = 30_000) -> None:
        self.client = client
        self.timeout_ms = timeout_ms
        self.user_id = client.whoami()
        self.filter_id = client.create_filter(self.user_id, FILTER)
        self.actions = reaction_actions()

    def position(self) -> str:
        row = MatrixSync.objects.filter(user_id=self.user_id).first()
        return row.since if row else ""

    def run_once(self) -> int:
        """One ``/sync`` round; returns how many events were acted on."""
        since = self.position()
        answer = self.client.sync(since or None, self.filter_id, self.timeout_ms if since else 0)
        rooms = answer.get("rooms", {})
        acted = 0
        if since:
            for room_id, room in rooms.get("join", {}).items():
                acted += sum(self.handle(room_id, e) for e in self._timeline(room_id, room, since))
        else:
            log.info("matrix: first start as %s; earlier room events are ignored", self.user_id)
        for room_id in rooms.get("invite", {}):
            self._join(room_id)
        MatrixSync.objects.update_or_create(
            user_id=self.user_id, defaults={"since": answer["next_batch"]}
        )
        return acted

    def _timeline(self, room_id: str, room: dict[str, Any], since: str) -> list[dict[str, Any]]:
        timeline = room.get("timeline", {})
        events = list(timeline.get("events", []))
        if timeline.get("limited") and timeline.get("prev_batch"):
            events = self._backfill(room_id, timeline["prev_batch"], since) + events
        return events

    def _backfill(self, room_id: str, start: str, end: str) -> list[dict[str, Any]]:
        older: list[dict[str, Any]] = []
        while start:
            page = self.client.messages(room_id, start, end, {"types": TYPES})
            chunk = page.get("chunk", [])
            older.extend(chunk)
            if not chunk or page.get("end") in (None, start):
                break
            start = page["end"]
        log.info("matrix: %s events fetched to fill a sync gap in %s", len(older), room_id)
        return list(reversed(older))

    def _join(self, room_id: str) -> None:
        try:
            self.client.join(room_id)
            log.info("matrix: joined %s", room_id)
            topic.update(room_id)  # configured before the bot was invited: say who is on call
        except MatrixError as error:
            log.warning("matrix: could not join %s: %s", room_id, error)

    # Events ----------------------------------------------------------------------

    def handle(self, room_id: str, event: dict[str, Any]) -> bool:
        """Act on one room event; True when it changed something."""
        sender = event.get("sender", "")
        content = event.get("content") or {}
        kind = event.get("type")
        if sender == self.user_id and kind != "m.reaction":
            return False  # our own messages and redactions
        if kind == "m.reaction":
            return self._reaction(room_id, event, content.get("m.relates_to") or {})
        if kind == "m.room.redaction":
            return self._redaction(room_id, event, event.get("redacts") or content.get("redacts"))
        body = content.get("body")
        if kind == "m.room.message" and isinstance(body, str) and body.startswith("!"):
            relation = (content.get("m.relates_to") or {}).get("rel_type")
            if relation != "m.replace":
                return commands.run(self, room_id, event, body)
        return False

    def record(self, room_id: str, event: dict[str, Any], kind: str, **fields: Any) -> bool:
        """Write the event's row; False when it was handled before (a replayed batch)."""
        try:
            with transaction.atomic():
                MatrixEvent.objects.create(
                    event_id=event["event_id"],
                    room=room_id,
                    sender=event.get("sender", ""),
                    kind=kind,
                    **fields,
                )
        except IntegrityError:
            return False
        return True

    def _reaction(self, room_id: str, event: dict[str, Any], relation: dict[str, Any]) -> bool:
        if relation.get("rel_type") != "m.annotation":
            return False
        key, target, sender = (
            str(relation.get("key", "")),
            relation.get("event_id"),
            event["sender"],
        )
        announced = SwapMessage.objects.select_related("swap").filter(event_id=target).first()
        if announced is not None:
            return self._swap_reaction(room_id, event, announced, normalize(key))
        message = MatrixMessage.objects.select_related("incident").filter(event_id=target).first()
        action = self.actions.get(normalize(key))
        if message is None or action is None:
            return False  # a reaction to something else, or a key that means nothing
        person = None if sender == self.user_id else known(sender)
        if person is None:
            log.info(
                "matrix: %s reacted %s on #%s; not a known person", sender, key, message.incident_id
            )
            self.record(
                room_id,
                event,
                Kind.REACTION,
                text=key[:500],
                relates_to=target,
                incident=message.incident,
                outcome="ignored: not a known person",
            )
            return False
        with transaction.atomic():
            if not self.record(
                room_id,
                event,
                Kind.REACTION,
                text=key[:500],
                relates_to=target,
                incident=message.incident,
                person=person,
            ):
                return False
            done, text = act(action, message.incident, person)
            MatrixEvent.objects.filter(event_id=event["event_id"]).update(
                action=action if done else "", outcome=text[:500]
            )
        self.confirm(message.incident, room_id, text, event["event_id"])
        return done

    def _swap_reaction(
        self, room_id: str, event: dict[str, Any], announced: SwapMessage, key: str
    ) -> bool:
        """✅ on a swap's message takes it; a refusal is answered in reply to it."""
        if event["sender"] == self.user_id or key not in swaps.TAKE_KEYS:
            return False
        if not self.record(room_id, event, Kind.REACTION, text=key, relates_to=announced.event_id):
            return False
        done, text = swaps.react(room_id, announced.swap, event["sender"], key)
        MatrixEvent.objects.filter(event_id=event["event_id"]).update(
            action="take" if done else "", outcome=(text or "taken")[:500]
        )
        if text:
            content = render.notice(text)
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": announced.event_id}}
            try:
                self.client.send(room_id, content, key=f"ack:{event['event_id']}")
            except MatrixError as error:
                log.warning("matrix: could not answer in %s: %s", room_id, error)
        return done

    def _redaction(self, room_id: str, event: dict[str, Any], redacts: str | None) -> bool:
        reaction = (
            MatrixEvent.objects.select_related("incident", "person")
            .filter(event_id=redacts or "", kind=Kind.REACTION, action="claim")
            .first()
        )
        if reaction is None or reaction.incident is None or reaction.person is None:
            return False
        incident, person = reaction.incident, reaction.person
        with transaction.atomic():
            if not self.record(
                room_id,
                event,
                Kind.REDACTION,
                relates_to=redacts or "",
                incident=incident,
                person=person,
            ):
                return False
            incident.refresh_from_db()
            if incident.state != Incident.State.CLAIMED or incident.claimed_by_id != person.pk:
                return False
            lifecycle.perform(incident, lifecycle.Action.UNCLAIM, by=person, channel="matrix")
            MatrixEvent.objects.filter(event_id=event["event_id"]).update(
                action="unclaim", outcome="unclaimed"
            )
        self.confirm(
            incident,
            room_id,
            f"↩️ {person.name} took their claim back; escalation resumes.",
            event["event_id"],
        )
        return True

    def confirm(self, incident: Incident, room_id: str, text: str, event_id: str) -> None:
        try:
            channel.reply(incident, room_id, text, key=f"ack:{event_id}")
        except MatrixError as error:
            log.warning("matrix: could not confirm in %s: %s", room_id, error)
