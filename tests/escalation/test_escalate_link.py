"""The e-mail "Escalate now" link: in a page's mail, GET confirms, POST escalates as the
signed person through channel "email"; past the last step the page says so (409)."""

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import time_machine

from escalation import engine, links
from escalation.channels.email import build_message
from escalation.models import Incident, Notification
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(settings):
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def incident(token_client, repo):
    body = token_client("ingest").post("/api/v1/events/", FAILURE, format="json").json()
    engine.sweep()  # step 1 pages carol
    return Incident.objects.get(pk=body["incidents"][0]["id"])


def test_a_page_mail_carries_an_escalate_link_that_escalates_on_post(client, incident, people):
    page = Notification.objects.get(kind="page")
    text = build_message([page]).body
    assert "Escalate now" in text
    url = next(w for w in text.split() if "/act/escalate/" in w)
    assert url.startswith("https://oncall.example.org/act/escalate/")

    confirm = client.get(urlsplit(url).path)
    assert confirm.status_code == 200
    assert "Escalate now as Carol" in confirm.content.decode()
    assert not Notification.objects.filter(step=1).exists()

    done = client.post(urlsplit(url).path)
    assert done.status_code == 200
    assert f"You escalated incident #{incident.pk}" in done.content.decode()
    assert Notification.objects.get(step=1).address == "ops@example.org"
    entry = incident.timeline.get(kind="escalated", actor__isnull=False)
    assert (entry.actor.handle, entry.channel) == ("carol", "email")

    again = client.post(urlsplit(url).path)
    assert again.status_code == 409
    assert "no further escalation step" in again.content.decode()
    assert Notification.objects.filter(step=1).count() == 1


def test_an_incident_without_policy_gets_no_escalate_link(incident, people):
    page = Notification.objects.get(kind="page")
    Incident.objects.filter(pk=incident.pk).update(policy=None)
    page.refresh_from_db()

    assert "/act/escalate/" not in build_message([page]).body
    assert links.action_url(incident, people["alice"], "escalate").startswith(
        "https://oncall.example.org/act/escalate/"
    )
