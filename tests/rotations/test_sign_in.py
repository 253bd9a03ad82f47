"""``rotations.sign_in.login_for_claims``: who an identity provider's verified claims are
here, in process (tests/web/test_oidc.py gets the claims from a real provider)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from rotations.models import Person, Team
from rotations.sign_in import GroupRules, Refused, login_for_claims

NO_GROUPS = GroupRules()


@pytest.fixture
def dana(db):
    return Person.objects.create(handle="dana", name="Dana", email="dana@example.org")


def test_the_string_true_counts_as_verified_like_the_boolean(dana):
    user = login_for_claims({"email": "DANA@example.org", "email_verified": "true"}, NO_GROUPS)
    dana.refresh_from_db()
    assert dana.user == user
    assert user.username == "dana" and not user.has_usable_password()


@pytest.mark.parametrize("verified", [False, "false", 1, "yes", None])
def test_anything_but_true_is_unverified(dana, verified):
    with pytest.raises(Refused, match="not verified"):
        login_for_claims({"email": "dana@example.org", "email_verified": verified}, NO_GROUPS)
    assert not get_user_model().objects.exists()


def test_an_address_two_people_share_is_refused(dana):
    Person.objects.create(handle="dana2", name="Dana too", email="Dana@Example.org")
    with pytest.raises(Refused, match="More than one person"):
        login_for_claims({"email": "dana@example.org", "email_verified": True}, NO_GROUPS)
    assert not get_user_model().objects.exists()


def test_an_inactive_person_or_disabled_login_is_refused(dana):
    claims = {"email": "dana@example.org", "email_verified": True}
    dana.active = False
    dana.save()
    with pytest.raises(Refused, match="inactive"):
        login_for_claims(claims, NO_GROUPS)
    dana.active = True
    dana.user = get_user_model().objects.create_user("dana-login", is_active=False)
    dana.save()
    with pytest.raises(Refused, match="disabled"):
        login_for_claims(claims, NO_GROUPS)


def test_a_login_named_like_the_handle_but_linked_to_someone_else_is_not_taken(dana):
    other = get_user_model().objects.create_user("dana")
    Person.objects.create(handle="erin", name="Erin", email="erin@example.org", user=other)
    with pytest.raises(Refused, match="belongs to another person"):
        login_for_claims({"email": "dana@example.org", "email_verified": True}, NO_GROUPS)
    dana.refresh_from_db()
    assert dana.user is None


def test_the_group_claim_is_configurable_and_may_be_one_string(dana):
    ops = Team.objects.create(slug="ops", name="Ops")
    rules = GroupRules(claim="roles", staff=frozenset({"admins"}), lead_prefix="lead-")
    claims = {"email": "dana@example.org", "email_verified": True, "groups": ["admins"]}
    user = login_for_claims({**claims, "roles": "lead-ops"}, rules)
    assert not user.is_staff  # "groups" is not the configured claim
    assert list(ops.leads.all()) == [dana]
    user = login_for_claims({**claims, "roles": ["admins"]}, rules)
    assert user.is_staff
    assert list(ops.leads.all()) == []
