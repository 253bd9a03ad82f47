"""Who is on call, in the room: the room topic and handoff messages.

A room's rotations are its team's rotations plus those of repos whose own room it
is. The topic reads "On call: <name> (<matrix id>) until <date> · workflow: <url>";
text the team put before the separator stays. The topic is set at each handoff,
on ``!topic``, and by a beat task every few minutes (which repairs a missed
handoff or an edited topic), and only written when it differs.
"""

from __future__ import annotations

import logging
import re
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


Rooms = dict[str, tuple[list[int], list[Repo]]]


def _rooms() -> Rooms:
    """Room id → (rotation ids, repos) for every room a team or repo names."""
    rooms: Rooms = {}

    def add(room: str, rotation_ids: list[int], repos: list[Repo]) -> None:
        try:
            room_id = client().room_id(room)
        except MatrixError as error:
            log.warning("matrix: unknown room %s: %s", room, error)
            return
        ids, known = rooms.setdefault(room_id, ([], []))
        ids.extend(i for i in rotation_ids if i not in ids)
        known.extend(repos)

    repos = list(Repo.objects.select_related("team"))
    for team in Team.objects.exclude(matrix_room="").prefetch_related("rotations"):
        own = [r for r in repos if r.team_id == team.pk and not r.matrix_room]
        add(team.matrix_room, [r.pk for r in team.rotations.all()], own)
    for repo in repos:
        if repo.matrix_room:
            add(repo.matrix_room, [repo.rotation_id] if repo.rotation_id else [], [repo])
    return rooms


def rotations_for_room(room_id: str) -> list[Rotation]:
    ids = _rooms().get(room_id, ([], []))[0]
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


def text_for(rotation_ids: list[int], repos: list[Repo], at: datetime) -> str:
    rotations = list(Rotation.objects.filter(pk__in=rotation_ids))
    ours = f"{MARKER} {describe(rotations, at)}"
    urls = [m[0] for r in sorted(repos, key=lambda r: r.name) if (m := URL.search(r.workflow))]
    return f"{ours} · workflow: {urls[0]}" if urls else ours


def update(room_id: str, at: datetime | None = None, rooms: Rooms | None = None) -> bool:
    """Set the room's topic when it is not current; True when it was written. ``rooms``:
    the room map when the caller has it already (one read of teams and repos)."""
    at = at or timezone.now()
    rotation_ids, repos = (rooms if rooms is not None else _rooms()).get(room_id, ([], []))
    if not rotation_ids:
        return False
    current = (client().state(room_id, "m.room.topic") or {}).get("topic", "")
    wanted = compose(current, text_for(rotation_ids, repos, at))
    if wanted == current:
        return False
    client().put_state(room_id, "m.room.topic", {"topic": wanted})
    return True


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
    for room_id, (rotation_ids, _repos) in rooms.items():
        if rotation.pk not in rotation_ids:
            continue
        try:
            content = render.notice(f"🔁 {name} {verb}.", f"🔁 {pill} {verb}.", notify=(person,))
            client().send(room_id, content, key=f"handoff:{notice.pk}")
            if notice.kind == HandoffNotice.Kind.STARTED:
                update(room_id, max(timezone.now(), notice.shift_start), rooms)
        except MatrixError as error:
            # The e-mail went out; the topic task repairs the topic within minutes.
            log.warning("matrix: handoff notice %s in %s failed: %s", notice.pk, room_id, error)
