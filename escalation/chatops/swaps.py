"""Swaps from the room: ``!swap FROM..TO [rotation]``, ``!take N``,
``!cover [@who] DURATION [rotation]``, and a ✅ reaction on a swap's message.

``!swap 2026-12-10..2026-12-17`` asks for cover from the 10th to the 17th at the
rotation's handoff time, in the rotation's time zone: the dates are handoff days, so
a weekly shift from Thursday to Thursday is ``THU..THU``. ``!cover 2w`` covers the
rotation from now for the duration (``3d``, ``2w``, ``12h``); ``!cover @bob 2w`` asks
bob to (or, from a team lead, puts him on call at once). The rotation is the room's
one; a room with several takes the rotation's slug as the last word.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from escalation.channels.matrix import topic
from escalation.chatops.act import known
from rotations import swap_services
from rotations.models import Person, Rotation, RotationVersion, Swap

RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
DURATION = re.compile(r"^(\d+)\s*([hdw])$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
TAKE_KEYS = {"✅", "👍"}
USAGE = {
    "swap": "Usage: !swap 2026-12-10..2026-12-17 [rotation] (handoff days)",
    "take": "Usage: !take N",
    "cover": "Usage: !cover [@who] 2w [rotation] (h, d, w)",
}


def duration(text: str) -> timedelta | None:
    match = DURATION.match(text.strip().lower())
    if not match:
        return None
    span = int(match[1]) * UNITS[match[2]]
    return span if timedelta(0) < span <= swap_services.MAX_SPAN else None


def handoff_at(rotation: Rotation, day: date) -> datetime:
    """``day`` at the handoff time of the version in force then (the first one before)."""
    versions = list(RotationVersion.objects.filter(rotation=rotation).order_by("effective_from"))
    version = next((v for v in reversed(versions) if v.effective_from <= day), versions[0])
    return datetime.combine(day, version.handoff_time, tzinfo=ZoneInfo(version.timezone))


def _rotation(room_id: str, slug: str, person: Person) -> Rotation | str:
    """The rotation meant: the named one, else the room's only one with the person."""
    if slug:
        found = Rotation.objects.select_related("team").filter(slug=slug).first()
        return found or f"No rotation {slug!r}."
    rotations = [r for r in topic.rotations_for_room(room_id) if r.versions.exists()]
    if len(rotations) == 1:
        return rotations[0]
    mine = [r for r in rotations if r.versions.filter(members__person=person).exists()]
    if len(mine) == 1:
        return mine[0]
    if not rotations:
        return "No rotation belongs to this room; name one as the last word."
    return "Several rotations belong to this room; name one: " + ", ".join(
        r.slug for r in rotations
    )


def _said(swap: Swap, verb: str) -> str:
    return f"#{swap.pk} {verb}."


def run(room_id: str, person: Person, name: str, args: list[str]) -> tuple[bool, str]:
    """Do one swap command for ``person``; (done, what to answer)."""
    try:
        if name == "take":
            if len(args) != 1 or not args[0].lstrip("#").isdigit():
                return False, USAGE["take"]
            swap = Swap.objects.filter(pk=int(args[0].lstrip("#"))).first()
            if swap is None:
                return False, f"There is no swap #{args[0].lstrip('#')}."
            swap = swap_services.take(swap, by=person)
            return True, _said(swap, "taken" if swap.override_id else "taken; a lead approves it")
        if name == "swap":
            return _swap(room_id, person, args)
        return _cover(room_id, person, args)
    except swap_services.SwapError as error:
        return False, error.message


def _swap(room_id: str, person: Person, args: list[str]) -> tuple[bool, str]:
    match = RANGE.match(args[0]) if args else None
    if match is None or len(args) > 2:
        return False, USAGE["swap"]
    try:
        first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
    except ValueError:
        return False, USAGE["swap"]
    rotation = _rotation(room_id, args[1] if len(args) > 1 else "", person)
    if isinstance(rotation, str):
        return False, rotation
    swap = swap_services.request(
        rotation=rotation,
        requester=person,
        start=handoff_at(rotation, first),
        end=handoff_at(rotation, last),
    )
    return True, _said(swap, "asked; the others can take it")


def _cover(room_id: str, person: Person, args: list[str]) -> tuple[bool, str]:
    words = list(args)
    covering = person
    if words and words[0].startswith("@"):
        named = Person.objects.filter(matrix_id=words.pop(0), active=True).first()
        if named is None:
            return False, f"{args[0]} is not a known person here."
        covering = named
    span = duration(words.pop(0)) if words else None
    if span is None or len(words) > 1:
        return False, USAGE["cover"]
    rotation = _rotation(room_id, words[0] if words else "", covering)
    if isinstance(rotation, str):
        return False, rotation
    now = timezone.now()
    swap = swap_services.cover(
        rotation=rotation, person=covering, start=now, end=now + span, by=person
    )
    return True, _said(swap, "done" if swap.override_id else "offered; they take it with !take")


def react(room_id: str, swap: Swap, sender: str, key: str) -> tuple[bool, str]:
    """A reaction on a swap's message: ✅ (or 👍) takes it."""
    if key not in TAKE_KEYS:
        return False, ""
    person = known(sender)
    if person is None:
        return False, f"{sender} is not a known person here."
    try:
        swap_services.take(swap, by=person)
    except swap_services.SwapError as error:
        return False, f"Cannot take #{swap.pk}: {error.message}"
    return True, ""
