"""Signed, expiring action links for e-mail: claim, mute, resolve without logging in.

The link's token is a timestamped signature of (incident, person, action, minutes):
the signature is the authority, so whoever holds the link acts as that person, for
that incident and that action only, for ``ONCALL_ACTION_LINK_DAYS`` (default 7) days.

GET only shows a confirmation page with a form (mail scanners and link previews fetch
every link; they must never claim anything); the form's POST acts, through the
lifecycle services, with channel "email".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from escalation.models import Incident, Notification
from escalation.services import lifecycle
from rotations.models import Person

SALT = "oncall.escalation.actions"
ACTIONS = ("claim", "resolve", "mute")
CHANNEL = "email"
MAX_MUTE_MINUTES = lifecycle.MAX_MUTE // timedelta(minutes=1)


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
    ("claim", "resolve", or "mute" for ``minutes``) on the incident of ``target``."""
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


def describe(action: str, minutes: int | None) -> str:
    """The action in words: "claim", "resolve", "mute for 1 hour", "mute for 1 day"."""
    if action != "mute" or minutes is None:
        return action
    if minutes % (60 * 24) == 0:
        days = minutes // (60 * 24)
        return f"mute for {days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"mute for {hours} hour{'s' if hours != 1 else ''}"
    return f"mute for {minutes} minutes"


def conflict(signed: SignedAction) -> str | None:
    """Why the action does not fit the incident's state now, or None when it does."""
    incident, person = signed.incident, signed.person
    if incident.state == Incident.State.RESOLVED:
        if incident.resolved_by is None:
            return "This incident has already been resolved: the job passed again."
        return f"This incident has already been resolved by {incident.resolved_by.name}."
    if (
        signed.action == "claim"
        and incident.state == Incident.State.CLAIMED
        and incident.claimed_by_id != person.pk
    ):
        who = incident.claimed_by.name if incident.claimed_by else "someone else"
        return f"This incident has already been claimed by {who}."
    return None


def _perform(signed: SignedAction) -> Incident:
    until = None
    if signed.action == "mute":
        if signed.minutes is None:  # read_token does not let this happen
            raise InvalidLink("The link has no mute duration.")
        until = timezone.now() + timedelta(minutes=signed.minutes)
    return lifecycle.perform(
        signed.incident, signed.action, by=signed.person, channel=CHANNEL, until=until
    )


def _page(request: HttpRequest, template: str, status: int, **context: Any) -> HttpResponse:
    response = render(request, f"escalation/{template}", context, status=status)
    # The token is in the URL: keep it out of other sites' Referer headers (the page
    # links to builds and logs) and out of search indexes. Not "no-referrer": browsers
    # then send "Origin: null" with the form's POST, which fails the CSRF check.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, action: str, token: str) -> HttpResponse:
    """GET: what the link would do, with a confirmation form. POST: do it."""
    try:
        signed = read_token(token, action)
    except InvalidLink:
        return _page(request, "action_invalid.html", 400, days=link_days())
    context: dict[str, Any] = {
        "incident": signed.incident,
        "person": signed.person,
        "action": signed.action,
        "description": describe(signed.action, signed.minutes),
        "tz": signed.person.timezone or "UTC",
    }
    problem = conflict(signed)
    if problem:
        return _page(request, "action_conflict.html", 409, problem=problem, **context)
    if request.method == "GET":
        return _page(request, "action_confirm.html", 200, **context)
    try:
        incident = _perform(signed)
    except lifecycle.InvalidState:
        signed.incident.refresh_from_db()
        problem = conflict(signed) or f"This incident is {signed.incident.state} now."
        return _page(request, "action_conflict.html", 409, problem=problem, **context)
    context["incident"] = incident
    return _page(request, "action_done.html", 200, **context)
