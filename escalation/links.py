"""Signed, expiring action links: who may do what to which incident, without logging in.

The link's token is a timestamped signature of (incident, person, action, minutes):
the signature is the authority, so whoever holds the link acts as that person, for
that incident and that action only, for ``ONCALL_ACTION_LINK_DAYS`` (default 7) days.

Channels build the links (``action_url``); the pages that act on them are
``escalation.action_links``. This module imports no service, so any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from escalation.models import Incident, Notification
from rotations.models import Person

SALT = "oncall.escalation.actions"
ACTIONS = ("claim", "resolve", "mute", "escalate")
MAX_MUTE_MINUTES = Incident.MAX_MUTE // timedelta(minutes=1)


class InvalidLink(Exception):
    """The token is tampered, expired, for another action, or names deleted rows."""


@dataclass(frozen=True)
class SignedAction:
    incident: Incident
    person: Person
    action: str
    minutes: int | None


def link_days() -> int:
    return int(getattr(settings, "ONCALL_ACTION_LINK_DAYS", 7))


def make_token(incident_id: int, person_id: int, action: str, minutes: int | None = None) -> str:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}.")
    if (action == "mute") != (minutes is not None):
        raise ValueError("A mute link needs minutes; other actions take none.")
    if minutes is not None and not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise ValueError(f"Mute minutes must be within 1..{MAX_MUTE_MINUTES}.")
    data = {"i": incident_id, "p": person_id, "a": action, "m": minutes}
    return signing.dumps(data, salt=SALT)


def action_url(
    target: Notification | Incident, person: Person, action: str, minutes: int | None = None
) -> str:
    """The absolute link (under ``ONCALL_BASE_URL``) that lets ``person`` do ``action``
    ("claim", "resolve", "escalate", or "mute" for ``minutes``) on the incident of ``target``."""
    incident_id = target.incident_id if isinstance(target, Notification) else target.pk
    token = make_token(incident_id, person.pk, action, minutes)
    path = reverse("incident-action", kwargs={"action": action, "token": token})
    return f"{settings.ONCALL_BASE_URL.rstrip('/')}{path}"


def read_token(token: str, action: str) -> SignedAction:
    """The signed action of ``token``; raises ``InvalidLink`` unless the signature is
    intact, younger than the link lifetime, for ``action``, and its rows still exist."""
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(days=link_days()))
    except signing.BadSignature as error:  # includes SignatureExpired
        raise InvalidLink(str(error)) from error
    if not isinstance(data, dict) or data.get("a") != action or action not in ACTIONS:
        raise InvalidLink("The link is for another action.")
    minutes = data.get("m")
    if (action == "mute") != isinstance(minutes, int):
        raise InvalidLink("The link has no mute duration.")
    incident_id, person_id = data.get("i"), data.get("p")
    if not (isinstance(incident_id, int) and isinstance(person_id, int)):
        raise InvalidLink("The link names no incident or person.")
    incident = (
        Incident.objects.select_related("claimed_by", "resolved_by").filter(pk=incident_id).first()
    )
    person = Person.objects.filter(pk=person_id).first()
    if incident is None or person is None:
        raise InvalidLink("The incident or the person no longer exists.")
    return SignedAction(incident, person, action, minutes)
