"""Who is on call, in the room: the room topic and handoff messages.

A room's rotations are its team's rotations plus those of repos whose own room it
is. The topic reads "On call: <name> (<matrix id>) until <date> · workflow: <url> ·
mail: <team address>"; text the team put before the separator stays. The topic is
set when a team or repo is saved with a room (``on_saved``), when the listener
starts or joins a room, at each handoff, on ``!topic``, and by a beat task every
few minutes (which repairs a missed handoff or an edited topic); it is only
written when it differs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from escalation.channels.matrix import render
from escalation.channels.matrix.channel import client
from escalation.channels.matrix.client import MatrixError
from escalation.models import Repo
from rotations import schedule, selectors
from rotations.models import HandoffNotice, Person, Rotation, Team

log = logging.getLogger(__name__)

SEPARATOR = " | "
MARKER = "On call:"
AHEAD = timedelta(days=120)
URL = re.compile(r"https?://[^\s()<>\[\]\"']+[^\s()<>\[\]\"'.,;:!?]")  # also inside Markdown


@dataclass
class Room:
    """What a room's topic is made of: its rotations, repos and teams' addresses."""

    rotation_ids: list[int] = field(default_factory=list)
    repos: list[Repo] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


Rooms = dict[str, Room]


def _rooms() -> Rooms:
    """Room id → ``Room`` for every room a team or repo names."""
    rooms: Rooms = {}

    def add(room: str, rotation_ids: list[int], repos: list[Repo], team: Team | None) -> None:
        try:
            room_id = client().room_id(room)
        except MatrixError as error:
            log.warning("matrix: unknown room %s: %s", room, error)
            return
        known = rooms.setdefault(room_id, Room())
        known.rotation_ids.extend(i for i in rotation_ids if i not in known.rotation_ids)
        known.repos.extend(repos)
        if team is not None and team.email and team.email not in known.emails:
            known.emails.append(team.email)

    repos = list(Repo.objects.select_related("team"))
    for team in Team.objects.exclude(matrix_room="").prefetch_related("rotations"):
        own = [r for r in repos if r.team_id == team.pk and not r.matrix_room]
        add(team.matrix_room, [r.pk for r in team.rotations.all()], own, team)
    for repo in repos:
        if repo.matrix_room:
            rotation_ids = [repo.rotation_id] if repo.rotation_id else []
            add(repo.matrix_room, rotation_ids, [repo], repo.team)
    return rooms


def rooms_of_rotation(rotation_id: int) -> list[str]:
    """The ids of the rooms whose topic names the rotation (its team's, its repos')."""
    return [room_id for room_id, room in _rooms().items() if rotation_id in room.rotation_ids]


def rotations_for_room(room_id: str) -> list[Rotation]:
    ids = _rooms().get(room_id, Room()).rotation_ids
    return list(Rotation.objects.filter(pk__in=ids).order_by("name"))


def _until(shifts: list[schedule.Shift], at: datetime) -> tuple[Person | None, datetime | None]:
    """Who is on call at ``at`` and until when (their consecutive shifts merged)."""
    current = next((s for s in shifts if s.start <= at < s.end), None)
    if current is None or current.person is None:
        return None, None
    end = current.end
    for s in shifts:
        if s.start == end and schedule.same(s.person, current.person):
            end = s.end
    return current.person, end  # type: ignore[return-value]


def describe(rotations: list[Rotation], at: datetime) -> str:
    """ "Alice (@alice:example.org) until Mon 30 Nov 09:00 UTC", per rotation."""
    parts = []
    loaded = selectors.load(
        Rotation.objects.filter(pk__in=[r.pk for r in rotations]), (at, at + AHEAD)
    )
    for item in sorted(loaded, key=lambda i: i.rotation.name):
        person, until = _until(item.shifts(at, at + AHEAD), at)
        name = render.who(person)[0]
        text = f"{name} until {render.day(until)}" if until else name
        parts.append(f"{item.rotation.name}: {text}" if len(rotations) > 1 else text)
    return "; ".join(parts) if parts else "nobody"


def compose(current: str, ours: str) -> str:
    """The new topic: the team's text before the separator, then ours."""
    head = current
    if MARKER in current:
        head = current[: current.index(MARKER)]
        head = head[: -len(SEPARATOR)] if head.endswith(SEPARATOR) else head.rstrip()
    return f"{head}{SEPARATOR}{ours}" if head.strip() else ours


def text_for(room: Room, at: datetime) -> str:
    """Ours: who is on call (nobody, without a rotation), the workflow, the mail."""
    rotations = list(Rotation.objects.filter(pk__in=room.rotation_ids))
    parts = [f"{MARKER} {describe(rotations, at)}"]
    repos = sorted(room.repos, key=lambda r: r.name)
    urls = [m[0] for r in repos if (m := URL.search(r.workflow))]
    if urls:
        parts.append(f"workflow: {urls[0]}")
    if room.emails:
        parts.append(f"mail: {', '.join(room.emails)}")
    return " · ".join(parts)


def update(room_id: str, at: datetime | None = None, rooms: Rooms | None = None) -> bool:
    """Set the room's topic when it is not current; True when it was written. ``rooms``:
    the room map when the caller has it already (one read of teams and repos)."""
    at = at or timezone.now()
    room = (rooms if rooms is not None else _rooms()).get(room_id)
    if room is None:
        return False  # no team or repo names this room: its topic is not ours
    current = (client().state(room_id, "m.room.topic") or {}).get("topic", "")
    wanted = compose(current, text_for(room, at))
    if wanted == current:
        return False
    client().put_state(room_id, "m.room.topic", {"topic": wanted})
    return True


def set_now(room: str) -> bool:
    """Set the topic of ``room`` (an id or alias) when it is not current; a homeserver
    that cannot be reached is logged, and the beat task tries again."""
    try:
        return update(client().room_id(room))
    except MatrixError as error:
        log.warning("matrix: could not set the topic of %s: %s", room, error)
        return False


def update_all(at: datetime | None = None) -> int:
    written = 0
    rooms = _rooms()
    for room_id in rooms:
        try:
            written += update(room_id, at, rooms)
        except MatrixError as error:
            log.warning("matrix: could not set the topic of %s: %s", room_id, error)
    return written


def on_handoff(notice: HandoffNotice) -> None:
    """Post the handoff in the rotation's rooms; at the start, set their topics."""
    rotation, person = notice.rotation, notice.person
    name, pill = render.who(person)
    if notice.kind == HandoffNotice.Kind.STARTED:
        verb = f"is now on call for {rotation.name} until {render.day(notice.shift_end)}"
    else:
        verb = f"is on call for {rotation.name} from {render.day(notice.shift_start)}"
    rooms = _rooms()
    for room_id, room in rooms.items():
        if rotation.pk not in room.rotation_ids:
            continue
        try:
            content = render.notice(f"🔁 {name} {verb}.", f"🔁 {pill} {verb}.", notify=(person,))
            client().send(room_id, content, key=f"handoff:{notice.pk}")
            if notice.kind == HandoffNotice.Kind.STARTED:
                update(room_id, max(timezone.now(), notice.shift_start), rooms)
        except MatrixError as error:
            # The e-mail went out; the topic task repairs the topic within minutes.
            log.warning("matrix: handoff notice %s in %s failed: %s", notice.pk, room_id, error)
