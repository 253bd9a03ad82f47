"""Who may see and do what in the web UI: login, POST-only actions, CSRF, the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from escalation.models import Incident
from tests.web.conftest import PASSWORD, failure

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/incidents/",
    "/incidents/{pk}/",
    "/oncall/",
    "/oncall/?repo=standards",
    "/rotations/core-ops/",
    "/coverage/",
    "/me/",
    "/reports/",
]
ACTIONS = [
    "/incidents/{pk}/claim/",
    "/incidents/{pk}/unclaim/",
    "/incidents/{pk}/resolve/",
    "/incidents/{pk}/mute/",
    "/incidents/{pk}/unmute/",
    "/rotations/core-ops/overrides/",
    "/rotations/core-ops/feed/reset/",
    "/me/feed/reset/",
]


@pytest.fixture
def incident(world) -> Incident:
    return failure()


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, incident, url):
    response = client.get(url.format(pk=incident.pk), follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")
    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.parametrize("url", ACTIONS)
def test_anonymous_posts_change_nothing_and_go_to_login(client, incident, url):
    response = client.post(url.format(pk=incident.pk), {"minutes": "60"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    incident.refresh_from_db()
    assert (incident.state, incident.muted_until) == ("open", None)


@pytest.mark.parametrize("url", ACTIONS)
def test_actions_are_post_only(alice_client, incident, url):
    assert alice_client.get(url.format(pk=incident.pk)).status_code == 405


def test_login_form_logs_in_and_goes_where_asked(client, world):
    page = client.get("/accounts/login/?next=/oncall/")
    assert b'<label for="id_username">' in page.content
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/oncall/"}
    )
    assert response.status_code == 302 and response["Location"] == "/oncall/"
    bad = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct username" in bad.content


def test_login_without_next_lands_on_the_incidents(client, world):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response["Location"] == "/incidents/"


def test_logout_is_a_post_and_ends_the_session(alice_client):
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert alice_client.get("/incidents/").status_code == 302


def test_non_staff_users_act_on_incidents_but_cannot_reach_the_admin(alice_client, incident):
    alice_client.post(f"/incidents/{incident.pk}/claim/")
    incident.refresh_from_db()
    assert incident.state == "claimed"
    response = alice_client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert b"Admin" not in alice_client.get("/incidents/").content.split(b"<main")[0]


def test_staff_users_see_the_admin_link(alice_client, world):
    world.user.is_staff = True
    world.user.save()
    assert b'href="/admin/"' in alice_client.get("/incidents/").content


def test_csrf_is_enforced_on_actions(world, incident):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user)
    response = client.post(f"/incidents/{incident.pk}/claim/")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.state == "open"
    page = client.get("/incidents/")
    token = page.context["csrf_token"]
    response = client.post(f"/incidents/{incident.pk}/claim/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.state == "claimed"


def test_csrf_is_enforced_on_login(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
