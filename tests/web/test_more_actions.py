"""The incident page's forms for escalate now, reassign, add a responder and notes:
POST only, CSRF checked, as the logged-in person (docs/web.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from escalation import engine
from escalation.models import Notification, TimelineEntry
from tests.web.conftest import PASSWORD, failure

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def incident(world):
    found = failure()
    engine.sweep()  # step 1 pages the primary
    found.refresh_from_db()
    return found


def post(client, incident, name, **data):
    return client.post(f"/incidents/{incident.pk}/{name}/", data, follow=True)


def test_page_shows_the_forms_and_each_acts_as_the_login(alice_client, world, incident):
    page = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    for form in ('id="escalate"', 'id="reassign"', 'id="responder"', 'id="note"'):
        assert form in page
    assert "pages step 2 of 2 at once" in page

    escalated = post(alice_client, incident, "escalate")
    assert f"Escalated #{incident.pk}." in escalated.content.decode()
    assert Notification.objects.filter(step=1, kind="page").exists()
    reassigned = post(alice_client, incident, "reassign", to="bob")
    assert f"Reassigned #{incident.pk} to Bob." in reassigned.content.decode()
    added = post(alice_client, incident, "responders", add="team:ops")
    assert "team Ops" in added.content.decode()  # listed under Who
    noted = post(alice_client, incident, "notes", text="Runner rebooted")
    assert "Runner rebooted" in noted.content.decode()

    rows = TimelineEntry.objects.filter(actor=world.alice).order_by("pk")
    assert [(e.kind, e.channel) for e in rows] == [
        ("escalated", "web"),
        ("reassigned", "web"),
        ("responder_added", "web"),
        ("note", "web"),
    ]
    incident.refresh_from_db()
    assert incident.claimed_by == world.bob
    assert Notification.objects.filter(kind="assigned", person=world.bob).count() == 1
    # The team has no list: its members are paged by e-mail.
    assert set(Notification.objects.filter(kind="responder").values_list("address", flat=True)) == {
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    }
    page = alice_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "the policy is at its last step" in page


def test_bad_input_shows_the_page_again_with_400(alice_client, world, incident):
    assert post(alice_client, incident, "notes", text="   ").status_code == 400
    assert post(alice_client, incident, "notes", text="x" * 2001).status_code == 400
    assert post(alice_client, incident, "reassign", to="nobody").status_code == 400
    assert post(alice_client, incident, "responders", add="").status_code == 400
    assert not TimelineEntry.objects.filter(actor__isnull=False).exists()


def test_actions_are_post_only_with_csrf_and_need_a_linked_login(world, incident):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.login(username="alice", password=PASSWORD)
    assert csrf_client.get(f"/incidents/{incident.pk}/escalate/").status_code == 405
    assert csrf_client.post(f"/incidents/{incident.pk}/escalate/").status_code == 403  # CSRF

    viewer = Client()
    viewer.force_login(world.viewer)
    page = viewer.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="escalate"' not in page
    post(viewer, incident, "notes", text="hi")
    post(viewer, incident, "escalate")
    assert not TimelineEntry.objects.filter(actor__isnull=False).exists()
    assert not Notification.objects.filter(step=1).exists()


def test_escalating_a_resolved_incident_says_why(alice_client, world, incident):
    post(alice_client, incident, "resolve")

    response = post(alice_client, incident, "escalate")

    assert response.status_code == 200
    assert "it is resolved" in response.content.decode()
