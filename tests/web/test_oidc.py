"""Sign-in with an OpenID Connect provider, against a real one (npm's oidc-provider,
tests/oidc.py): the flow is driven with a plain HTTP client at the provider and Django's
test client here; tests/web/test_oidc_browser.py walks it once in Chromium.

Who the login is (verified e-mail → person, groups → staff and team leads), what is
refused (unverified or unknown e-mail, a provider calling itself by another issuer, a
callback nobody started), and the ID token checks of ``oncall.oidc.verify_id_token``
on real tokens of the provider (issuer, audience, nonce, expiry, signature).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from datetime import timedelta

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.utils import timezone

from oncall import oidc
from rotations.models import Person
from tests.oidc import CALLBACK, CLIENT_ID, CLIENT_SECRET, TEST_SITE, Browser, running_provider
from tests.processes import ROOT, child_env

pytestmark = pytest.mark.slow

VERIFIED = {"email_verified": True, "name": "Carol C."}


@pytest.fixture
def provider(oidc_provider, settings):
    oidc_provider.settings(settings, TEST_SITE)
    return oidc_provider


def sign_in(client, provider, login: str):
    """Start at /accounts/oidc/login/, log in as ``login`` at the provider, come back."""
    started = client.get("/accounts/oidc/login/")
    assert started.status_code == 302, started.content.decode()
    assert started["Location"].startswith(provider.issuer + "/")
    back = Browser().sign_in(started["Location"], login, TEST_SITE + CALLBACK)
    return client.get(back.removeprefix(TEST_SITE))


def test_login_page_offers_the_provider_only_when_configured(client, settings, provider):
    assert "Sign in with Test ID" in client.get("/accounts/login/").content.decode()
    settings.OIDC_PROVIDER_NAME = ""  # then the issuer's host names it
    assert "Sign in with 127.0.0.1" in client.get("/accounts/login/").content.decode()
    settings.OIDC_ISSUER = ""
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert 'name="password"' in page  # local passwords stay
    assert client.get("/accounts/oidc/login/").status_code == 404


def test_verified_email_signs_in_as_the_person_with_a_new_linked_login(client, world, provider):
    provider.accounts(carol={"email": "Carol@EXAMPLE.org", **VERIFIED})
    answer = sign_in(client, provider, "carol")
    assert answer.status_code == 302
    assert answer["Location"] == "/incidents/"
    world.carol.refresh_from_db()
    user = world.carol.user
    assert user is not None and user.username == "carol"
    assert not user.has_usable_password()
    me = client.get("/me/").content.decode()
    assert 'class="whoami"' in me and "Carol" in me
    assert "(view only)" not in me


def test_a_local_login_named_like_the_handle_is_linked_and_reused(client, world, provider):
    provider.accounts(alice={"email": "alice@example.org", **VERIFIED})
    users_before = get_user_model().objects.count()
    assert sign_in(client, provider, "alice").status_code == 302
    world.alice.refresh_from_db()
    assert world.alice.user_id == world.user.pk
    assert get_user_model().objects.count() == users_before
    assert client.get("/me/").wsgi_request.user.pk == world.user.pk
    client.logout()
    assert sign_in(client, provider, "alice").status_code == 302  # again: same login
    assert get_user_model().objects.count() == users_before


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"email": "carol@example.org", "email_verified": False}, "is not verified"),
        ({"email": "carol@example.org"}, "is not verified"),
        ({"email": "carol@example.org", "email_verified": "false"}, "is not verified"),
        ({"email": "nobody@example.org", "email_verified": True}, "Nobody here has"),
        ({"email_verified": True}, "did not tell us your e-mail"),
    ],
)
def test_unverified_or_unknown_email_is_refused_and_nothing_created(
    client, world, provider, claims, reason
):
    provider.accounts(carol=claims)
    users_before = get_user_model().objects.count()
    answer = sign_in(client, provider, "carol")
    assert answer.status_code == 403
    assert reason in answer.content.decode()
    assert "Sign-in refused" in answer.content.decode()
    assert get_user_model().objects.count() == users_before
    assert Person.objects.get(handle="carol").user_id is None
    assert client.get("/me/").status_code == 302  # not signed in: off to the login page


def test_staff_group_grants_staff_and_its_absence_takes_it_away(client, world, provider, settings):
    settings.OIDC_STAFF_GROUPS = ["oncall-admins", "sre"]
    provider.accounts(bob={"email": "bob@example.org", "groups": ["sre", "x"], **VERIFIED})
    assert sign_in(client, provider, "bob").status_code == 302
    world.bob.refresh_from_db()
    assert world.bob.user.is_staff
    assert "Admin</a>" in client.get("/me/").content.decode()
    client.logout()
    provider.accounts(bob={"email": "bob@example.org", "groups": ["x"], **VERIFIED})
    assert sign_in(client, provider, "bob").status_code == 302
    world.bob.user.refresh_from_db()
    assert not world.bob.user.is_staff


def test_lead_groups_make_the_person_team_lead_and_their_absence_removes_it(
    client, world, provider, settings
):
    from rotations.models import Team

    other = Team.objects.create(slug="web", name="Web")
    settings.OIDC_LEAD_GROUP_PREFIX = "oncall-lead-"
    groups = ["oncall-lead-ops", "oncall-lead-nosuchteam", "ops"]
    provider.accounts(bob={"email": "bob@example.org", "groups": groups, **VERIFIED})
    assert sign_in(client, provider, "bob").status_code == 302
    assert list(world.team.leads.all()) == [world.bob]
    assert list(other.leads.all()) == []
    client.logout()
    provider.accounts(bob={"email": "bob@example.org", "groups": ["oncall-lead-web"], **VERIFIED})
    assert sign_in(client, provider, "bob").status_code == 302
    assert list(world.team.leads.all()) == []
    assert list(other.leads.all()) == [world.bob]


def test_without_group_settings_staff_and_leads_are_left_alone(client, world, provider):
    world.team.leads.add(world.alice)
    world.user.is_staff = True
    world.user.save()
    provider.accounts(alice={"email": "alice@example.org", "groups": [], **VERIFIED})
    assert sign_in(client, provider, "alice").status_code == 302
    world.user.refresh_from_db()
    assert world.user.is_staff
    assert list(world.team.leads.all()) == [world.alice]


def test_a_provider_calling_itself_by_another_issuer_is_refused(client, world, settings, tmp_path):
    with running_provider(tmp_path, [TEST_SITE + CALLBACK], issuer_host="localhost") as other:
        other.accounts(carol={"email": "carol@example.org", **VERIFIED})
        other.settings(settings, TEST_SITE)
        settings.OIDC_ISSUER = other.url  # 127.0.0.1: not what it calls itself
        answer = client.get("/accounts/oidc/login/")
        assert answer.status_code == 403
        assert f"calls itself &#x27;{other.issuer}&#x27;" in answer.content.decode()
        # Trusting the name it does use works: the refusal was the issuer, not the provider.
        settings.OIDC_ISSUER = other.issuer
        answer = sign_in(client, other, "carol")
        assert answer.status_code == 302, answer.content.decode()


def test_an_unreachable_provider_is_a_clear_refusal_not_an_error(client, settings, provider):
    from tests.processes import free_port

    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    answer = client.get("/accounts/oidc/login/")
    assert answer.status_code == 403
    assert "cannot be reached" in answer.content.decode()


def test_an_issuer_without_client_credentials_stops_the_start(tmp_path):
    env = child_env(OIDC_ISSUER="https://id.example.org", OIDC_CLIENT_ID="oncall")
    env["ONCALL_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are needed" in done.stderr


def test_a_callback_nobody_started_or_with_a_wrong_state_is_refused(client, world, provider):
    answer = client.get(CALLBACK, {"code": "x", "state": "y"})
    assert answer.status_code == 403
    assert "not started here" in answer.content.decode()
    started = client.get("/accounts/oidc/login/")
    assert started.status_code == 302
    provider.accounts(carol={"email": "carol@example.org", **VERIFIED})
    back = Browser().sign_in(started["Location"], "carol", TEST_SITE + CALLBACK)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    answer = client.get(CALLBACK, {**query, "state": "forged"})
    assert answer.status_code == 403
    assert client.get("/me/").status_code == 302
    # The real answer cannot be replayed either: the pending sign-in was used up.
    assert client.get(back.removeprefix(TEST_SITE)).status_code == 403


def test_next_is_kept_through_the_provider(client, world, provider):
    provider.accounts(carol={"email": "carol@example.org", **VERIFIED})
    started = client.get("/accounts/oidc/login/", {"next": "/oncall/"})
    back = Browser().sign_in(started["Location"], "carol", TEST_SITE + CALLBACK)
    assert client.get(back.removeprefix(TEST_SITE))["Location"] == "/oncall/"
    client.logout()
    started = client.get("/accounts/oidc/login/", {"next": "https://evil.example/"})
    back = Browser().sign_in(started["Location"], "carol", TEST_SITE + CALLBACK)
    assert client.get(back.removeprefix(TEST_SITE))["Location"] == "/incidents/"


# The ID token checks, on real tokens of the real provider ------------------------------


@pytest.fixture
def real_token(provider, db):
    """A fresh ID token of the provider for "carol" and the nonce it was asked with."""
    provider.accounts(carol={"email": "carol@example.org", **VERIFIED})
    config = oidc.client(CALLBACK)
    url, pending = oidc.begin(config)
    back = Browser().sign_in(url, "carol", TEST_SITE + CALLBACK)
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))["code"]
    tokens = oidc.exchange_code(config, code, pending.verifier)
    return tokens["id_token"], pending.nonce


def verify(provider, token: str, sent_nonce: str, **changes: str) -> dict:
    checks = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "jwks_uri": oidc.discovery(provider.issuer)["jwks_uri"],
        "nonce": sent_nonce,
    }
    return oidc.verify_id_token(token, **{**checks, **changes})


def _segments(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
    return json.loads(pad(header)), json.loads(pad(payload))


def test_a_real_id_token_passes_every_check(provider, real_token):
    token, nonce = real_token
    claims = verify(provider, token, nonce)
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("carol", provider.issuer, CLIENT_ID)
    # This provider keeps e-mail and groups for its userinfo endpoint (as the standard
    # says for the code flow), so the sign-ins above took them from there.
    assert "email" not in claims
    assert _segments(token)[0]["alg"] == "RS256"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"issuer": "http://localhost:1"}, "Invalid issuer"),
        ({"client_id": "another-client"}, "Audience doesn't match"),
        ({"nonce": "another-nonce"}, "nonce"),
    ],
)
def test_an_id_token_for_another_issuer_client_or_sign_in_is_refused(
    provider, real_token, changes, reason
):
    token, nonce = real_token
    with pytest.raises(oidc.OidcError, match=reason):
        verify(provider, token, nonce, **changes)


def test_an_expired_id_token_is_refused(provider, real_token):
    token, nonce = real_token
    with (
        time_machine.travel(timezone.now() + timedelta(hours=3), tick=False),
        pytest.raises(oidc.OidcError, match="expired"),
    ):
        verify(provider, token, nonce)


def test_an_id_token_with_a_changed_claim_or_signature_is_refused(provider, real_token):
    token, nonce = real_token
    header, payload, signature = token.split(".")
    claims = _segments(token)[1]
    forged_payload = base64.urlsafe_b64encode(
        json.dumps({**claims, "sub": "alice"}).encode()
    ).rstrip(b"=")
    with pytest.raises(oidc.OidcError, match="Signature verification failed"):
        verify(provider, f"{header}.{forged_payload.decode()}.{signature}", nonce)
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    with pytest.raises(oidc.OidcError, match="Signature verification failed"):
        verify(provider, f"{header}.{payload}.{flipped}", nonce)


def test_an_id_token_signed_by_another_key_or_algorithm_is_refused(provider, real_token):
    token, nonce = real_token
    header, claims = _segments(token)
    # The provider's key id on a token signed with a key of our own.
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stolen_kid = jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": header["kid"]})
    with pytest.raises(oidc.OidcError, match="Signature verification failed"):
        verify(provider, stolen_kid, nonce)
    unknown_kid = jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": "ours"})
    with pytest.raises(oidc.OidcError, match="refused"):
        verify(provider, unknown_kid, nonce)
    # HS256 with the client secret (a key the client knows too) is no provider signature.
    symmetric = jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers={"kid": header["kid"]})
    with pytest.raises(oidc.OidcError):
        verify(provider, symmetric, nonce)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})
    with pytest.raises(oidc.OidcError):
        verify(provider, unsigned, nonce)
