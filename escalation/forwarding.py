"""Forwarding: a route's ``forward_to`` contacts (e.g. a cloud provider's operations
address) get a compliance incident once, and its resolution, without joining the
escalation. Other categories are never forwarded (``escalation.classification``)."""

from __future__ import annotations

from datetime import datetime

from escalation import classification, engine
from escalation.models import Incident, Notification
from escalation.targets import Recipient

Kind = Notification.Kind


def forward(incident: Incident, now: datetime) -> None:
    if incident.route_id is None or incident.category != classification.COMPLIANCE:
        return  # only routes forward, and only compliance failures
    for contact in incident.forwarded_to.all():
        if contact.email:
            engine.notify(
                incident,
                [Recipient(Notification.Channel.EMAIL, contact.email)],
                kind=Kind.FORWARD,
                key=f"{incident.pk}:forward:{contact.slug}",
                at=now,
            )


def forward_resolution(incident: Incident, now: datetime) -> None:
    """Tell the contacts the incident was forwarded to that it is resolved."""
    told = Notification.objects.filter(incident=incident, kind=Kind.FORWARD)
    for n in told:
        engine.notify(
            incident,
            [Recipient(n.channel, n.address)],
            kind=Kind.FORWARD_RESOLVED,
            key=f"{incident.pk}:forward-resolved:{n.address}",
            at=now,
        )
