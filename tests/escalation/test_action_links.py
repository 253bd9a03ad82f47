"""Signed e-mail action links: GET confirms, only POST acts, as the signed person."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from escalation import links
from escalation.models import Incident, Notification, TimelineEntry
from escalation.services import lifecycle

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BASE = "https://oncall.example.org"


@pytest.fixture(autouse=True)
def frozen(settings):
    settings.ONCALL_BASE_URL = BASE
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident(db):
    return Incident.objects.create(
        dedup_key="zuul:standards:scs-check-gx-scs-main",
        source="zuul",
        repo="SovereignCloudStack/standards",
        job="scs-check-gx-scs-main",
        result="FAILURE",
        summary="<script>alert(1)</script>",
        occurrences=2,
    )


@pytest.fixture
def alice(people):
    return people["alice"]


def path(url: str) -> str:
    return urlsplit(url).path


def link(incident, person, action, minutes=None) -> str:
    return path(links.action_url(incident, person, action, minutes))


def test_links_are_absolute_under_the_base_url_and_name_the_action(incident, alice):
    notification = Notification.objects.create(
        incident=incident, key="k", kind="page", channel="email", address=alice.email
    )
    url = links.action_url(notification, alice, "mute", 60)
    assert url.startswith(f"{BASE}/act/mute/")
    assert links.action_url(incident, alice, "claim").startswith(f"{BASE}/act/claim/")
    assert links.action_url(incident, alice, "resolve").startswith(f"{BASE}/act/resolve/")
    with pytest.raises(ValueError):
        links.action_url(incident, alice, "mute")  # a mute needs its duration


def test_get_shows_a_confirmation_form_and_changes_nothing(client, incident, alice):
    response = client.get(link(incident, alice, "claim"))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post">' in page and "csrfmiddlewaretoken" in page
    assert "Claim as Alice" in page and f"#{incident.pk}" in page
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert response["Cache-Control"].startswith("max-age=0")
    assert response["Referrer-Policy"] == "same-origin"
    incident.refresh_from_db()
    assert incident.state == "open" and incident.claimed_by is None
    assert not TimelineEntry.objects.exists()


def test_get_of_a_resolve_link_does_not_resolve(client, incident, alice):
    assert client.get(link(incident, alice, "resolve")).status_code == 200
    assert Incident.objects.get().state == "open"
    assert not TimelineEntry.objects.exists()


def test_post_claims_as_the_signed_person_through_email(client, incident, alice):
    response = client.post(link(incident, alice, "claim"))

    assert response.status_code == 200
    assert "You claimed incident" in response.content.decode()
    incident.refresh_from_db()
    assert incident.state == "claimed" and incident.claimed_by == alice
    entry = TimelineEntry.objects.get()
    assert (entry.kind, entry.actor, entry.channel) == ("claimed", alice, "email")


def test_the_form_works_with_csrf_checks_and_a_bare_post_is_refused(incident, alice):
    browser = Client(enforce_csrf_checks=True)
    url = link(incident, alice, "claim")
    assert browser.post(url).status_code == 403
    assert Incident.objects.get().state == "open"

    form = browser.get(url)
    token = form.context["csrf_token"]
    response = browser.post(url, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 200
    assert Incident.objects.get().claimed_by == alice


def test_the_form_posts_over_https_as_a_browser_sends_it(incident, alice):
    browser = Client(enforce_csrf_checks=True)
    url = link(incident, alice, "claim")
    form = browser.get(url, secure=True)
    assert form["Referrer-Policy"] == "same-origin"  # "no-referrer" would send Origin: null
    token = str(form.context["csrf_token"])
    response = browser.post(
        url, {"csrfmiddlewaretoken": token}, secure=True, headers={"Origin": "https://testserver"}
    )
    assert response.status_code == 200
    assert Incident.objects.get().claimed_by == alice


def test_a_tampered_token_is_400(client, incident, alice):
    url = link(incident, alice, "claim")
    token = url.rstrip("/").rsplit("/", 1)[1]
    payload, stamp, signature = token.split(":")
    other = links.make_token(incident.pk + 1, alice.pk, "claim").split(":")[0]
    for bad in (
        f"{payload}:{stamp}:{signature[:-2]}xx",
        f"{other}:{stamp}:{signature}",  # another incident under this signature
        "garbage",
    ):
        response = client.post(f"/act/claim/{bad}/")
        assert response.status_code == 400
        assert "Link expired or invalid" in response.content.decode()
    assert Incident.objects.get().state == "open"


def test_an_expired_link_is_400(client, frozen, incident, alice):
    url = link(incident, alice, "claim")
    frozen.shift(timedelta(days=8))
    assert client.get(url).status_code == 400
    response = client.post(url)
    assert response.status_code == 400
    assert "expired or invalid" in response.content.decode()
    assert Incident.objects.get().state == "open"


def test_link_lifetime_follows_the_setting(client, settings, frozen, incident, alice):
    settings.ONCALL_ACTION_LINK_DAYS = 1
    url = link(incident, alice, "claim")
    frozen.shift(timedelta(hours=23))
    assert client.get(url).status_code == 200
    frozen.shift(timedelta(hours=2))
    assert client.get(url).status_code == 400


def test_the_url_action_must_match_the_signed_one(client, incident, alice):
    claim = link(incident, alice, "claim")
    token = claim.rstrip("/").rsplit("/", 1)[1]
    for action in ("resolve", "mute", "delete"):
        response = client.post(f"/act/{action}/{token}/")
        assert response.status_code == 400
    assert Incident.objects.get().state == "open"


@pytest.mark.parametrize("minutes", [60, 60 * 24])
def test_mute_links_mute_for_their_duration(client, incident, alice, minutes):
    url = link(incident, alice, "mute", minutes)
    label = "Mute for 1 hour" if minutes == 60 else "Mute for 1 day"
    assert label in client.get(url).content.decode()

    response = client.post(url)

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.muted_until == NOW + timedelta(minutes=minutes)
    assert incident.state == "open"
    entry = TimelineEntry.objects.get()
    assert (entry.kind, entry.actor, entry.channel) == ("muted", alice, "email")


def test_resolve_link_resolves_and_a_second_post_is_a_friendly_409(client, incident, alice):
    url = link(incident, alice, "resolve")
    assert client.post(url).status_code == 200
    incident.refresh_from_db()
    assert (incident.state, incident.resolved_by) == ("resolved", alice)

    again = client.post(url)

    assert again.status_code == 409
    assert "already been resolved by Alice" in again.content.decode()
    assert TimelineEntry.objects.filter(kind="resolved").count() == 1


def test_claim_of_an_incident_claimed_by_someone_else_is_409(client, incident, alice, people):
    lifecycle.claim(incident, people["bob"], "api")
    url = link(incident, alice, "claim")

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 409
        assert "already been claimed by Bob" in response.content.decode()
    assert Incident.objects.get().claimed_by == people["bob"]


def test_claim_link_of_the_claimer_is_a_no_op(client, incident, alice):
    lifecycle.claim(incident, alice, "api")
    assert client.post(link(incident, alice, "claim")).status_code == 200
    assert TimelineEntry.objects.filter(kind="claimed").count() == 1


def test_a_link_for_a_deleted_incident_is_400(client, incident, alice):
    url = link(incident, alice, "claim")
    incident.delete()
    assert client.get(url).status_code == 400
