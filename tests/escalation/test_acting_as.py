"""Nobody acts as someone else (docs/api.md, "Acting as someone"): a person's token
and a web session act only as their own person; admin tokens and staff act for anyone."""

from datetime import UTC, datetime

import pytest
import time_machine

from escalation.models import Incident, TimelineEntry
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACTIONS = [
    ("claim", {}),
    ("unclaim", {}),
    ("resolve", {"note": "done"}),
    ("mute", {"minutes": 60}),
    ("unmute", {}),
]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def incident(token_client, repo):
    body = token_client("ingest").post("/api/v1/events/", FAILURE, format="json").json()
    return Incident.objects.get(pk=body["incidents"][0]["id"])


def act(client, incident, action, **body):
    return client.post(f"/api/v1/incidents/{incident.pk}/{action}/", body, format="json")


def session_act(client, incident, action, **body):
    return client.post(
        f"/api/v1/incidents/{incident.pk}/{action}/", body, content_type="application/json"
    )


def assert_refused(response, incident):
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert set(response.json()) == {"error"} and "fields" not in error
    incident.refresh_from_db()
    assert incident.state == "open" and incident.muted_until is None
    assert not TimelineEntry.objects.filter(actor__isnull=False).exists()


@pytest.mark.parametrize(("action", "extra"), ACTIONS)
def test_person_token_naming_someone_else_is_403_for_every_action(
    token_client, people, incident, action, extra
):
    alices = token_client("act", "read", person=people["alice"])

    response = act(alices, incident, action, by="bob", **extra)

    assert_refused(response, incident)
    assert "alice" in response.json()["error"]["message"]


def test_person_token_acts_as_its_person_with_or_without_naming_it(token_client, people, incident):
    alices = token_client("act", "read", person=people["alice"])

    assert act(alices, incident, "claim").json()["claimed_by"]["handle"] == "alice"
    # Naming itself (by any of its references) is no one else.
    assert act(alices, incident, "unclaim", by="@alice:example.org").status_code == 200
    claimed = act(alices, incident, "claim", by="alice@example.org").json()
    assert claimed["claimed_by"]["handle"] == "alice"
    assert [e.actor.handle for e in TimelineEntry.objects.filter(actor__isnull=False)] == [
        "alice",
        "alice",
        "alice",
    ]


def test_admin_token_acts_for_anyone_even_when_bound_to_a_person(
    token_client, admin_api, people, incident
):
    bound_admin = token_client("admin", person=people["alice"])

    assert act(bound_admin, incident, "claim", by="bob").json()["claimed_by"]["handle"] == "bob"
    resolved = act(admin_api, incident, "resolve", by="carol").json()
    assert resolved["resolved_by"]["handle"] == "carol"


def test_bot_token_bound_to_nobody_acts_for_the_person_it_names(token_client, incident):
    bot = token_client("act", "read")

    assert act(bot, incident, "claim", by="carol").json()["claimed_by"]["handle"] == "carol"


def test_unknown_by_is_still_400_for_a_person_token(token_client, people, incident):
    response = act(token_client("act", person=people["alice"]), incident, "claim", by="nobody")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_person"


def test_session_without_person_cannot_act_through_the_api(
    client, django_user_model, people, incident
):
    viewer = django_user_model.objects.create_user("viewer", "viewer@example.org", "pw-123456")
    client.force_login(viewer)

    assert_refused(session_act(client, incident, "claim", by="alice"), incident)
    refused = session_act(client, incident, "claim")
    assert_refused(refused, incident)
    assert "not linked to a person" in refused.json()["error"]["message"]


def test_non_staff_session_acts_only_as_its_own_person(client, django_user_model, people, incident):
    bob = django_user_model.objects.create_user("someone", "bob@example.org", "pw-123456")
    client.force_login(bob)

    assert_refused(session_act(client, incident, "claim", by="alice"), incident)
    claimed = session_act(client, incident, "claim", by="bob").json()
    assert claimed["claimed_by"]["handle"] == "bob"


def test_staff_session_acts_for_anyone(client, django_user_model, people, incident):
    staff = django_user_model.objects.create_user(
        "lead", "lead@example.org", "pw-123456", is_staff=True
    )
    client.force_login(staff)

    claimed = session_act(client, incident, "claim", by="alice")
    assert claimed.status_code == 200
    assert claimed.json()["claimed_by"]["handle"] == "alice"
    assert claimed.json()["timeline"][-1]["channel"] == "web"
    # A staff login linked to nobody has no person to default to.
    missing = session_act(client, incident, "resolve")
    assert missing.status_code == 400 and "by" in missing.json()["error"]["fields"]


def test_feed_reset_of_someone_elses_feed_is_refused_to_a_session(
    client, django_user_model, people
):
    bob = django_user_model.objects.create_user("bob", "bob@example.org", "pw-123456")
    client.force_login(bob)

    assert client.post("/api/v1/people/alice/ical/reset/").status_code == 403
    assert client.post("/api/v1/people/bob/ical/reset/").status_code == 200
    bob.is_staff = True
    bob.save()
    assert client.post("/api/v1/people/alice/ical/reset/").status_code == 200
