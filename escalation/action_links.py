"""The pages behind the signed e-mail action links (``escalation.links``): claim, mute,
resolve, escalate now without logging in.

GET only shows a confirmation page with a form (mail scanners and link previews fetch
every link; they must never claim anything); the form's POST acts, through the
lifecycle services, with channel "email".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from escalation import engine
from escalation.links import InvalidLink, SignedAction, link_days, read_token
from escalation.models import Incident
from escalation.services import lifecycle

CHANNEL = "email"


def describe(action: str, minutes: int | None) -> str:
    """The action in words: "claim", "resolve", "escalate now", "mute for 1 hour"."""
    if action == "escalate":
        return "escalate now"
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
    if signed.action == "escalate" and engine.next_step(incident) is None:
        return "This incident has no further escalation step: its policy is at its last."
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
