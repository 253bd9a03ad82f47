"""Swaps in the room: the bot posts each change of a swap in the rooms of its rotation
(``rotations.swap_notices.SWAP_HOOKS``). The message of an open swap is remembered
(``SwapMessage``), so a ✅ reaction on it takes the swap (``escalation.chatops.swaps``)."""

from __future__ import annotations

import logging

from escalation.channels.matrix import render
from escalation.channels.matrix.channel import client
from escalation.channels.matrix.client import MatrixError
from escalation.channels.matrix.topic import rooms_of_rotation
from rotations.models import Person, Swap, SwapMessage
from rotations.swap_notices import Event

log = logging.getLogger(__name__)


def _span(swap: Swap) -> str:
    return f"{swap.rotation.name} from {render.day(swap.start)} to {render.day(swap.end)}"


def text(swap: Swap, event: Event) -> tuple[str, tuple[Person | None, ...]]:
    """What the room reads, and whom it mentions."""
    requester, taker = render.who(swap.requester)[0], render.who(swap.taken_by)[0]
    note = f" ({swap.note})" if swap.note else ""
    take = f"React ✅ or send !take {swap.pk} to take it."
    if event == Event.REQUESTED:
        return f"🔁 #{swap.pk}: {requester} asks for cover of {_span(swap)}{note}. {take}", ()
    if event == Event.OFFERED:
        offered = render.who(swap.offered_to)[0]
        return (
            f"🔁 #{swap.pk}: {requester} asks {offered} to cover {_span(swap)}{note}. {take}",
            (swap.offered_to,),
        )
    if event == Event.TAKEN:
        waiting = "" if swap.override_id else " A team lead has to approve it."
        return (
            f"🤝 #{swap.pk}: {taker} takes {swap.requester.name}'s {_span(swap)}.{waiting}",
            (swap.requester,),
        )
    if event == Event.APPROVED:
        return (
            f"👍 #{swap.pk}: {swap.approved_by} approved: {taker} covers {_span(swap)}.",
            (swap.requester, swap.taken_by),
        )
    if event == Event.COVERED:
        return f"🛡️ #{swap.pk}: {taker} covers {_span(swap)}{note}.", (swap.taken_by,)
    who = swap.cancelled_by.name if swap.cancelled_by else "someone"
    return (
        f"↩️ #{swap.pk} cancelled by {who}: {_span(swap)} is back as before.",
        (swap.requester, swap.taken_by),
    )


def on_swap(swap: Swap, event: Event) -> None:
    """Post the change in each room of the swap's rotation."""
    body, notify = text(swap, event)
    for room_id in rooms_of_rotation(swap.rotation_id):
        try:
            content = render.notice(body, notify=notify)
            event_id = client().send(room_id, content, key=f"swap:{swap.pk}:{event}")
        except MatrixError as error:
            log.warning("matrix: swap #%s %s in %s failed: %s", swap.pk, event, room_id, error)
            continue
        if event in (Event.REQUESTED, Event.OFFERED):
            SwapMessage.objects.get_or_create(
                event_id=event_id, defaults={"swap": swap, "room": room_id}
            )
