"""Incident actions by REST on behalf of people, and the lists and lookups around them."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation.models import Incident, Repo
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident(token_client, repo):
    body = token_client("ingest").post("/api/v1/events/", FAILURE, format="json").json()
    return Incident.objects.get(pk=body["incidents"][0]["id"])


@pytest.fixture
def bot(token_client):
    return token_client("act", "read")


def act(client, incident, action, **body):
    return client.post(f"/api/v1/incidents/{incident.pk}/{action}/", body, format="json")


def test_claim_by_handle_email_or_matrix_id_writes_the_timeline(bot, incident):
    response = act(bot, incident, "claim", by="@bob:example.org")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "claimed" and body["claimed_by"]["handle"] == "bob"
    assert body["escalation"]["next_at"] is None  # claimed: nobody is paged
    entry = body["timeline"][-1]
    assert (entry["kind"], entry["actor"]["handle"], entry["channel"]) == ("claimed", "bob", "api")
    assert act(bot, incident, "unclaim", by="bob@example.org").json()["state"] == "open"
    assert act(bot, incident, "claim", by="carol").json()["claimed_by"]["handle"] == "carol"


def test_claim_by_another_person_is_409_and_by_the_claimer_a_no_op(bot, incident):
    act(bot, incident, "claim", by="alice")
    again = act(bot, incident, "claim", by="alice")
    assert again.status_code == 200 and again.json()["claimed_by"]["handle"] == "alice"
    other = act(bot, incident, "claim", by="bob")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "invalid_state"
    assert Incident.objects.get().claimed_by.handle == "alice"


def test_token_bound_to_a_person_may_omit_by(token_client, incident, people):
    client = token_client("act", "read", person=people["carol"])
    assert act(client, incident, "claim").json()["claimed_by"]["handle"] == "carol"
    unbound = token_client("act")
    response = act(unbound, incident, "unclaim")
    assert response.status_code == 400 and "by" in response.json()["error"]["fields"]


def test_unknown_person_is_400(bot, incident):
    response = act(bot, incident, "claim", by="nobody")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_person"
    assert Incident.objects.get().state == "open"


def test_resolve_with_note_then_resolving_again_is_409(bot, incident):
    body = act(bot, incident, "resolve", by="alice", note="fixed the flavor").json()
    assert body["state"] == "resolved" and body["resolved_by"]["handle"] == "alice"
    assert body["timeline"][-1]["detail"] == "fixed the flavor"
    assert act(bot, incident, "resolve", by="alice").status_code == 409


def test_mute_for_minutes_or_until_then_unmute(bot, incident, frozen):
    body = act(bot, incident, "mute", by="alice", minutes=120).json()
    assert body["muted"] is True and body["muted_until"] == "2026-11-26T14:00:00Z"
    assert body["escalation"]["next_at"] == "2026-11-26T14:00:00Z"
    body = act(bot, incident, "unmute", by="alice").json()
    assert body["muted"] is False and body["timeline"][-1]["kind"] == "unmuted"
    until = (NOW + timedelta(days=1)).isoformat()
    assert act(bot, incident, "mute", by="alice", until=until).json()["muted_until"] == (
        "2026-11-27T12:00:00Z"
    )
    frozen.shift(timedelta(days=2))
    assert act(bot, incident, "unmute", by="alice").status_code == 409  # the mute ran out


def test_list_filters_by_state_repo_and_muted(bot, token_client, incident):
    ingest = token_client("ingest")
    ingest.post("/api/v1/events/", {**FAILURE, "repo": "Other/repo"}, format="json")
    act(bot, incident, "mute", by="alice", minutes=30)

    def ids(query):
        return [i["id"] for i in bot.get(f"/api/v1/incidents/?{query}").json()["results"]]

    assert len(ids("state=open")) == 2
    assert ids("repo=SovereignCloudStack/standards") == [incident.pk]
    assert ids("muted=true") == [incident.pk]
    assert incident.pk not in ids("muted=false") and len(ids("muted=false")) == 1
    assert ids("state=resolved") == []


def test_incident_list_uses_constant_queries(bot, token_client, repo):
    ingest = token_client("ingest")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert bot.get("/api/v1/incidents/?page_size=500").status_code == 200
        return len(captured)

    ingest.post("/api/v1/events/", FAILURE, format="json")
    queries()  # the token's first use also records last_used_at
    few = queries()
    Repo.objects.create(name="Other/repo", rotation=repo.rotation)
    for i in range(40):
        ingest.post(
            "/api/v1/events/",
            {**FAILURE, "job": f"job-{i}", "repo": "Other/repo" if i % 2 else FAILURE["repo"]},
            format="json",
        )
    assert queries() == few
    assert few <= 10


def test_oncall_for_a_repo(bot, repo, people):
    from rotations import services

    backup = services.create_rotation(
        slug="backup",
        name="Backup",
        team=None,
        start=NOW.date(),
        spec=services.ScheduleSpec([people["bob"]], 7, NOW.time(), "UTC"),
    )
    repo.backup_rotation = backup
    repo.save()
    body = bot.get("/api/v1/oncall/?repo=SovereignCloudStack/standards").json()
    assert body["repo"] == "SovereignCloudStack/standards"
    assert body["rotation"] == "core-ops"
    assert body["primary"]["handle"] == "carol"
    assert body["backup_rotation"] == "backup"
    assert body["backup_rotation_primary"]["handle"] == "bob"
    assert bot.get("/api/v1/oncall/?repo=No/such").status_code == 404


def test_coverage_lists_unowned_repos_gaps_and_unowned_failures(bot, token_client, repo, people):
    Repo.objects.create(name="Orphan/repo")
    people["alice"].active = False
    people["alice"].save()
    people["bob"].active = False
    people["bob"].save()
    people["carol"].active = False
    people["carol"].save()
    token_client("ingest").post("/api/v1/events/", {**FAILURE, "repo": "Unknown/x"}, format="json")
    body = bot.get("/api/v1/coverage/?days=14").json()
    assert body["repos_without_rotation"] == ["Orphan/repo"]
    assert body["rotations_with_gaps"][0]["rotation"] == "core-ops"
    assert body["rotations_with_gaps"][0]["gaps"] == [
        {"start": "2026-11-26T12:00:00Z", "end": "2026-12-10T12:00:00Z"}
    ]
    assert body["unowned_failures"][0]["repo"] == "Unknown/x"
    assert bot.get("/api/v1/coverage/?days=0").status_code == 400


def test_web_login_acts_as_the_person_with_the_same_handle_or_email(
    client, django_user_model, incident
):
    user = django_user_model.objects.create_user("someone", "bob@example.org", "pw-123456")
    client.force_login(user)
    response = client.post(
        f"/api/v1/incidents/{incident.pk}/claim/", {}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["claimed_by"]["handle"] == "bob"
    assert response.json()["timeline"][-1]["channel"] == "web"
