"""Whom a request may act as (docs/api.md, "Acting as someone").

A token bound to a person, and a web session, act only as their own person: an
action may leave the person out (it is theirs) and naming anybody else is refused.
Admin-scope tokens and staff sessions act for anyone. A token bound to nobody
(a chat bot's ``act`` token) has no person of its own, so it must name one and
may name anyone: that is what such a bot is for.

Every entry point that takes a person to act as goes through ``act_as``: REST
incident actions, web forms that pick a person (overrides), feed resets. E-mail
action links are outside this rule: their signature names the person, and nothing
in the request can change it (escalation.action_links).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oncall.models import ApiToken, Scope
from rotations.models import Person
from rotations.selectors import person_for_user


class ActingDenied(Exception):
    """The request may not act as the person it named (or as anybody)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a request: its own ``person`` (None: nobody) and whether it may act
    for anyone else (``for_anyone``)."""

    person: Person | None
    for_anyone: bool


def actor(request: Any) -> Actor:
    """The actor of a REST request (token or session) or of a web page's request."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return Actor(token.person, token.person is None or Scope.ADMIN in token.scopes)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Actor(None, False)
    # Web pages have looked the login's person up already (rotations.pages.page).
    person = request.person if hasattr(request, "person") else person_for_user(user)
    return Actor(person, bool(user.is_staff))


def acting_person(request: Any) -> Person | None:
    """The person a request acts for: its token's person, or the logged-in user's."""
    return actor(request).person


def act_as(who: Actor, named: Person | None) -> Person | None:
    """The person to act as when the request names ``named`` (None: named nobody).

    Returns None only when nobody was named and the actor has no person of its own,
    but may act for anyone (the caller asks for one). Raises ``ActingDenied`` when
    the actor names someone other than itself without the right to, or has no person
    and no right to act for others (a login linked to nobody: it may only look).
    """
    if who.for_anyone:
        return named or who.person
    if who.person is None:
        raise ActingDenied(
            "This login is not linked to a person, so it can look but not act. "
            "Ask an admin to link it to your person."
        )
    if named is not None and named.pk != who.person.pk:
        raise ActingDenied(
            f"You act as {who.person.handle} only; acting as {named.handle} needs "
            "an admin token or a staff login."
        )
    return who.person
