"""REST: escalate now, reassign, add a responder, notes (docs/api.md, "Incidents")."""

from datetime import UTC, datetime

import pytest
import time_machine

from escalation import delivery, engine
from escalation.models import Incident, Notification, TimelineEntry
from rotations.models import Team
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MORE = [
    ("escalate", {}),
    ("reassign", {"to": "carol"}),
    ("responders", {"add": "carol"}),
    ("notes", {"text": "looking"}),
]


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident(token_client, repo):
    body = token_client("ingest").post("/api/v1/events/", FAILURE, format="json").json()
    engine.sweep()  # step 1 pages carol, who is on call
    return Incident.objects.get(pk=body["incidents"][0]["id"])


@pytest.fixture
def bot(token_client):
    return token_client("act", "read")


def act(client, incident_id, action, **body):
    return client.post(f"/api/v1/incidents/{incident_id}/{action}/", body, format="json")


def sent(kind):
    return list(
        Notification.objects.filter(kind=kind).order_by("pk").values_list("address", flat=True)
    )


def test_escalate_pages_the_next_step_and_past_the_last_is_409(bot, incident):
    response = act(bot, incident.pk, "escalate", by="alice")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "open" and body["escalation"]["step"] == 2  # past step 2 of 2
    assert Notification.objects.filter(step=1).get().address == "ops@example.org"
    entry = next(e for e in body["timeline"] if e["kind"] == "escalated" and e["actor"])
    assert (entry["actor"]["handle"], entry["channel"]) == ("alice", "api")
    again = act(bot, incident.pk, "escalate", by="alice")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    assert "no further step" in again.json()["error"]["message"]


def test_escalating_a_claimed_incident_ends_the_claim(bot, incident):
    act(bot, incident.pk, "claim", by="bob")

    body = act(bot, incident.pk, "escalate", by="bob").json()

    assert body["state"] == "open" and body["claimed_by"] is None
    assert sent("page")[-1] == "ops@example.org"


def test_reassign_claims_for_the_person_and_pages_them_at_once(bot, incident):
    act(bot, incident.pk, "claim", by="alice")

    response = act(bot, incident.pk, "reassign", by="alice", to="@bob:example.org")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "claimed" and body["claimed_by"]["handle"] == "bob"
    entry = body["timeline"][-1]
    assert (entry["kind"], entry["actor"]["handle"]) == ("reassigned", "alice")
    assert entry["detail"].startswith("to bob (was alice); paging bob (email)")
    assert sent("assigned") == ["bob@example.org"]
    # Reassigning to the claimer is a no-op: no second page.
    assert act(bot, incident.pk, "reassign", by="alice", to="bob").status_code == 200
    assert sent("assigned") == ["bob@example.org"]
    # To someone else and back: each reassignment pages.
    act(bot, incident.pk, "reassign", by="bob", to="carol")
    act(bot, incident.pk, "reassign", by="carol", to="bob")
    assert sent("assigned") == ["bob@example.org", "carol@example.org", "bob@example.org"]


def test_reassign_to_an_unknown_or_inactive_person_is_400(bot, incident, people):
    unknown = act(bot, incident.pk, "reassign", by="alice", to="nobody")
    assert unknown.status_code == 400 and "to" in unknown.json()["error"]["fields"]
    people["bob"].active = False
    people["bob"].save()
    inactive = act(bot, incident.pk, "reassign", by="alice", to="bob")
    assert inactive.status_code == 400 and "to" in inactive.json()["error"]["fields"]
    missing = act(bot, incident.pk, "reassign", by="alice")
    assert missing.status_code == 400 and "to" in missing.json()["error"]["fields"]
    assert Incident.objects.get().state == "open" and not sent("assigned")


def test_responders_page_once_keep_the_claim_and_show_on_the_incident(bot, incident, people):
    act(bot, incident.pk, "claim", by="alice")
    Team.objects.create(slug="db", name="Databases", email="db@example.org")

    body = act(bot, incident.pk, "responders", by="alice", add="carol").json()
    act(bot, incident.pk, "responders", by="alice", add="carol")  # again: no second page
    body = act(bot, incident.pk, "responders", by="bob", add="db").json()

    assert body["state"] == "claimed" and body["claimed_by"]["handle"] == "alice"
    assert [(r["person"] and r["person"]["handle"], r["team"]) for r in body["responders"]] == [
        ("carol", None),
        (None, "db"),
    ]
    assert body["responders"][0]["added_by"]["handle"] == "alice"
    assert sent("responder") == ["carol@example.org", "db@example.org"]
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds.count("responder_added") == 2
    listed = bot.get("/api/v1/incidents/").json()["results"][0]
    assert len(listed["responders"]) == 2


def test_team_prefix_picks_the_team_over_a_person_of_that_handle(bot, incident):
    Team.objects.create(slug="carol", name="Team Carol", email="team-carol@example.org")

    act(bot, incident.pk, "responders", by="alice", add="team:carol")

    assert sent("responder") == ["team-carol@example.org"]


def test_responder_unknown_is_400_and_on_a_resolved_incident_409(bot, incident):
    unknown = act(bot, incident.pk, "responders", by="alice", add="nobody")
    assert unknown.status_code == 400 and "add" in unknown.json()["error"]["fields"]
    act(bot, incident.pk, "resolve", by="alice")
    late = act(bot, incident.pk, "responders", by="alice", add="bob")
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_state"
    assert act(bot, incident.pk, "reassign", by="alice", to="bob").status_code == 409
    assert act(bot, incident.pk, "escalate", by="alice").status_code == 409
    assert not sent("responder") and not sent("assigned")


def test_note_is_201_with_the_entry_and_shows_on_the_timeline(bot, incident):
    response = act(bot, incident.pk, "notes", by="bob", text="  rebooted the runner  ")

    assert response.status_code == 201, response.content
    entry = response.json()
    assert entry["kind"] == "note" and entry["detail"] == "rebooted the runner"
    assert (entry["actor"]["handle"], entry["channel"]) == ("bob", "api")
    detail = bot.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert detail["timeline"][-1] == entry
    # A resolved incident still takes notes (a post-mortem remark).
    act(bot, incident.pk, "resolve", by="bob")
    assert act(bot, incident.pk, "notes", by="bob", text="root cause: disk").status_code == 201


@pytest.mark.parametrize("text", ["", "   ", "x" * 2001])
def test_note_empty_or_too_long_is_400(bot, incident, text):
    response = act(bot, incident.pk, "notes", by="bob", text=text)

    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]
    assert not TimelineEntry.objects.filter(kind="note").exists()


@pytest.mark.parametrize(("action", "extra"), MORE)
def test_unknown_by_is_400_unknown_person(bot, incident, action, extra):
    response = act(bot, incident.pk, action, by="nobody", **extra)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_person"
    assert not TimelineEntry.objects.filter(actor__isnull=False).exists()


@pytest.mark.parametrize(("action", "extra"), MORE)
def test_unknown_incident_is_404(bot, incident, action, extra):
    response = act(bot, incident.pk + 1000, action, by="alice", **extra)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("action", "extra"), MORE)
def test_person_token_acts_only_as_its_person(token_client, people, incident, action, extra):
    alices = token_client("act", "read", person=people["alice"])

    refused = act(alices, incident.pk, action, by="bob", **extra)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert not TimelineEntry.objects.filter(actor__isnull=False).exists()
    done = act(alices, incident.pk, action, **extra)
    assert done.status_code in (200, 201), done.content
    assert TimelineEntry.objects.filter(actor__handle="alice").count() == 1


@pytest.mark.parametrize(("action", "extra"), MORE)
def test_admin_token_acts_for_anyone_and_read_scope_is_not_enough(
    token_client, admin_api, incident, action, extra
):
    reader = token_client("read")
    assert act(reader, incident.pk, action, by="bob", **extra).status_code == 403

    done = act(admin_api, incident.pk, action, by="bob", **extra)
    assert done.status_code in (200, 201), done.content
    assert TimelineEntry.objects.filter(actor__handle="bob").count() == 1


def test_session_acts_only_as_its_own_person(client, django_user_model, people, incident):
    django_user_model.objects.create_user("bob", "bob@example.org", "pw-123456")
    client.login(username="bob", password="pw-123456")
    url = f"/api/v1/incidents/{incident.pk}/notes/"

    refused = client.post(url, {"by": "alice", "text": "hi"}, content_type="application/json")
    assert refused.status_code == 403
    done = client.post(url, {"text": "hi"}, content_type="application/json")
    assert done.status_code == 201 and done.json()["channel"] == "web"


def test_the_assigned_page_goes_out_while_claimed_and_a_responders_not_once_resolved(
    bot, incident, mailoutbox
):
    act(bot, incident.pk, "reassign", by="alice", to="bob")
    act(bot, incident.pk, "responders", by="bob", add="alice")
    assigned = Notification.objects.get(kind="assigned")

    delivery.deliver(assigned.pk)
    act(bot, incident.pk, "resolve", by="bob")
    responder = Notification.objects.get(kind="responder")
    delivery.deliver(responder.pk)

    assigned.refresh_from_db()
    responder.refresh_from_db()
    assert assigned.status == "sent"
    assert [m.to for m in mailoutbox] == [["Bob <bob@example.org>"]]
    assert "This CI failure was assigned to you" in mailoutbox[0].body
    assert (responder.status, responder.error.split(":")[0]) == ("failed", "cancelled")


def test_the_admin_incident_page_lists_the_responders(bot, incident, admin_client):
    Team.objects.create(slug="db", name="Databases", email="db@example.org")
    act(bot, incident.pk, "responders", by="alice", add="carol")
    act(bot, incident.pk, "responders", by="alice", add="db")

    body = admin_client.get(f"/admin/escalation/incident/{incident.pk}/change/").content.decode()

    assert "Responders" in body
    assert "Carol" in body and "Databases" in body
