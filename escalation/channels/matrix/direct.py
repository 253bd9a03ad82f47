"""Matrix direct messages: a page as a DM from the bot, the phone push of people who
use Element (it notifies on every DM).

The bot creates the DM room on the first message to a person (``createRoom`` with
``is_direct``, the person invited) and reuses it from then on: the room id is kept in
the database (``MatrixDirectRoom``, so a restart or another worker reuses it) and in
the bot's ``m.direct`` account data, as any Matrix client does, so a DM room made
before the row existed is found again. The row is locked while the room is made, so
two workers never make two rooms for one person.

A DM carries the incident and signed links to claim, mute or resolve it (the links of
the e-mail: chat-ops reactions work in the incident's room, not here).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.html import escape

from escalation.channels import ChannelError, Delivery
from escalation.channels.matrix import render
from escalation.channels.matrix.channel import client
from escalation.channels.matrix.client import MatrixError
from escalation.links import action_url
from escalation.models import Incident, MatrixDirectRoom, Notification

DIRECT = "m.direct"
HEADLINES = {
    Notification.Kind.PAGE: "You are paged",
    Notification.Kind.REPAGE: "Still unclaimed",
    Notification.Kind.CLAIM_REMINDER: "You claimed this and it is not resolved yet",
}
LINKS = [("Claim", "claim", None), ("Mute 1 hour", "mute", 60), ("Resolve", "resolve", None)]


def direct_room(user_id: str) -> str:
    """The bot's DM room with ``user_id``, made (and remembered) on first use."""
    known = MatrixDirectRoom.objects.filter(user_id=user_id).exclude(room_id="").first()
    if known is not None:
        return known.room_id
    with transaction.atomic():
        row, _ = MatrixDirectRoom.objects.select_for_update().get_or_create(user_id=user_id)
        if row.room_id:
            return row.room_id  # another worker made it while we waited for the lock
        bot = client().whoami()
        direct = client().account_data(bot, DIRECT)
        rooms = direct.get(user_id) if isinstance(direct.get(user_id), list) else []
        room = str(rooms[-1]) if rooms else client().create_direct_room(user_id)
        if not rooms:
            direct[user_id] = [room]
            client().put_account_data(bot, DIRECT, direct)
        MatrixDirectRoom.objects.filter(pk=row.pk).update(room_id=room)
    return room


def send_text(user_id: str, text: str, key: str) -> str:
    """Send ``text`` as a DM to ``user_id``; the same ``key`` posts once."""
    content = {"msgtype": "m.text", "body": text}
    return client().send(direct_room(user_id), content, key=key)


def content(n: Notification, incident: Incident) -> dict[str, Any]:
    title = " · ".join(x for x in (incident.result or "FAILURE", incident.repo, incident.job) if x)
    headline = HEADLINES.get(n.kind, "About")  # type: ignore[call-overload]
    link = render.incident_link(incident)
    plain = [f"{headline}: {title} — #{incident.pk}", render.status(incident)]
    html = [
        f"<p><strong>{escape(headline)}</strong>: {escape(title)} — "
        f'<a href="{escape(link)}">#{incident.pk}</a></p>',
        f"<p>{escape(render.status(incident))}</p>",
    ]
    if incident.summary:
        plain.append(incident.summary)
        html.append(f"<p>{escape(incident.summary)}</p>")
    if n.person is not None:
        links = [(label, action_url(n, n.person, a, m)) for label, a, m in LINKS]
        plain.append(" · ".join(f"{label}: {url}" for label, url in links))
        html.append(
            "<p>" + " · ".join(f'<a href="{escape(u)}">{label}</a>' for label, u in links) + "</p>"
        )
    return {
        "msgtype": "m.text",
        "body": "\n".join(plain),
        "format": render.HTML,
        "formatted_body": "\n".join(html),
    }


class DirectChannel:
    aggregates = False

    def send(self, batch: list[Notification]) -> Delivery:
        n = batch[0]
        incident = Incident.objects.select_related("claimed_by").get(pk=n.incident_id)
        try:
            room = direct_room(n.address)
            return Delivery(client().send(room, content(n, incident), key=n.key))
        except MatrixError as error:
            raise ChannelError(
                str(error), permanent=error.permanent, retry_after=error.retry_after
            ) from error
