"""Who an identity provider's login is (docs/web.md, "Sign in with your identity
provider"): the person with the same verified e-mail address.

``login_for_claims`` takes the verified claims of ``oncall.oidc.finish`` and returns the
Django user to sign in, or raises ``Refused`` (nothing is created then):

- the claims must carry ``email`` with ``email_verified`` true (the JSON boolean, or the
  string "true" some providers send);
- exactly one person has that address (compared case-insensitively);
- the person's linked login is used; without one, the local user named like the
  person's handle (when it is linked to nobody else), else a new user with that name
  and no usable password; it is linked to the person (``Person.user``).

Groups (the ``OIDC_GROUPS_CLAIM`` claim, a list of names): when ``OIDC_STAFF_GROUPS`` is
set, the login is staff exactly when it is in one of them, granted and taken away at
every sign-in; when ``OIDC_LEAD_GROUP_PREFIX`` is set, the person leads exactly the
teams whose ``<prefix><team slug>`` group they are in: added, and removed from the
other teams' leads, at every sign-in. Unset, the admin's settings stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from rotations.models import Person, Team


class Refused(Exception):
    """The provider's login is no one here; the message says why."""


@dataclass(frozen=True)
class GroupRules:
    claim: str = "groups"
    staff: frozenset[str] = frozenset()
    lead_prefix: str = ""


def _verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Refused(
            "The identity provider did not tell us your e-mail address (ask for the 'email' scope)."
        )
    verified = claims.get("email_verified")
    if verified is not True and not (isinstance(verified, str) and verified.lower() == "true"):
        raise Refused(
            f"Your e-mail address {email} is not verified at the identity provider, "
            "so it cannot sign you in here. Verify it there and try again."
        )
    return email.strip()


def _groups(claims: dict[str, Any], rules: GroupRules) -> set[str]:
    value = claims.get(rules.claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value if isinstance(item, str)}
    return set()


def _user_for(person: Person) -> User:
    users = get_user_model()
    if person.user_id is not None:
        return person.user  # type: ignore[return-value]
    same_name = users.objects.filter(username=person.handle).first()
    if same_name is not None and not Person.objects.filter(user=same_name).exists():
        return same_name
    if same_name is not None:
        raise Refused(
            f"The login name {person.handle} belongs to another person; "
            "ask an admin to link your login."
        )
    user = users(username=person.handle, email=person.email)
    user.set_unusable_password()
    user.save()
    return user


def login_for_claims(claims: dict[str, Any], rules: GroupRules) -> User:
    """The user to sign in for these verified claims (see the module's docstring)."""
    email = _verified_email(claims)
    with transaction.atomic():
        people = list(Person.objects.select_for_update().filter(email__iexact=email)[:2])
        if not people:
            raise Refused(
                f"Nobody here has the e-mail address {email}. "
                "Ask an admin to add you, or to put this address on your person."
            )
        if len(people) > 1:
            raise Refused(
                f"More than one person here has the e-mail address {email}; "
                "ask an admin to give each their own."
            )
        person = people[0]
        if not person.active:
            raise Refused(f"{person.name or person.handle} is inactive here.")
        user = _user_for(person)
        if not user.is_active:
            raise Refused(f"The login {user.get_username()} is disabled here.")
        if person.user_id != user.pk:
            person.user = user
            person.save(update_fields=["user"])
        groups = _groups(claims, rules)
        if rules.staff:
            staff = bool(groups & rules.staff)
            if user.is_staff != staff:
                user.is_staff = staff
                user.save(update_fields=["is_staff"])
        if rules.lead_prefix:
            _sync_leads(person, groups, rules.lead_prefix)
    return user


def _sync_leads(person: Person, groups: set[str], prefix: str) -> None:
    slugs = {group[len(prefix) :] for group in groups if group.startswith(prefix)}
    for team in Team.objects.filter(slug__in=slugs).exclude(leads=person):
        team.leads.add(person)
    for team in Team.objects.filter(leads=person).exclude(slug__in=slugs):
        team.leads.remove(person)
