"""Ingestion into incidents: dedup, routing, ownership, thresholds, silences, lifecycle."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation.models import Contact, Incident, Occurrence, Route, Silence
from tests.escalation.conftest import FAILURE

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ingest(token_client):
    client = token_client("ingest")

    def post(**changes):
        response = client.post("/api/v1/events/", {**FAILURE, **changes}, format="json")
        assert response.status_code == 202, response.json()
        return response.json()

    return post


def test_repeats_of_an_open_incident_only_count(ingest):
    first, second = ingest(), ingest()
    assert first["incidents"] == [
        {"id": first["incidents"][0]["id"], "created": True, "state": "open", "occurrences": 1}
    ]
    assert second["incidents"][0]["created"] is False
    assert second["incidents"][0]["occurrences"] == 2
    ingest(job="another-job")
    assert Incident.objects.count() == 2


def test_report_after_resolution_opens_a_new_incident(ingest):
    first = ingest()["incidents"][0]
    recovered = ingest(status="success")["incidents"][0]
    assert recovered == {**first, "state": "resolved", "created": False}
    incident = Incident.objects.get(pk=first["id"])
    assert incident.resolved_by is None
    assert incident.timeline.last().detail.startswith("recovered")
    again = ingest()["incidents"][0]
    assert again["created"] is True and again["id"] != first["id"]


def test_success_without_open_incident_creates_nothing(ingest):
    assert ingest(status="success") == {"incidents": [], "ignored": 0}
    assert not Incident.objects.exists()


def test_owned_repo_gets_its_policy_workflow_and_responsible(ingest, repo, admin_api):
    created = ingest()["incidents"][0]
    body = admin_api.get(f"/api/v1/incidents/{created['id']}/").json()
    assert body["owned"] is True
    assert body["workflow"] == "https://docs.example.org/runbooks/standards"
    # 2026-01-05 + 14-day shifts: on 2026-11-26 the 23rd shift (alice, bob, carol order)
    assert [p["handle"] for p in body["responsible"]] == ["carol", "alice"]
    assert body["escalation"] == {
        "policy": "Standard",
        "step": 0,
        "next_at": "2026-11-26T12:00:00Z",
    }
    assert [e["kind"] for e in body["timeline"]] == ["created"]


def test_unknown_repo_goes_to_the_default_policy_and_is_unowned(ingest, policy, admin_api):
    created = ingest(repo="Nobody/knows")["incidents"][0]
    body = admin_api.get(f"/api/v1/incidents/{created['id']}/").json()
    assert body["owned"] is False
    assert body["escalation"]["policy"] == "Standard"
    assert body["responsible"] == []
    assert "nobody is responsible" in body["timeline"][0]["detail"]


def test_first_matching_route_decides_category_policy_forwarding_workflow(ingest, repo, policy):
    gx = Contact.objects.create(slug="csp-gx", name="GX ops", email="ops@gx.example")
    late = Route.objects.create(order=20, match={"repo": "SovereignCloudStack/*"}, category="late")
    route = Route.objects.create(
        order=10,
        match={"job": "*-gx-scs-*", "labels": {"cloud": "gx-*"}},
        category="compliance",
        workflow="https://runbook/gx",
    )
    route.forward_to.add(gx)
    ingest()
    incident = Incident.objects.get()
    assert (incident.category, incident.workflow, incident.route) == (
        "compliance",
        "https://runbook/gx",
        route,
    )
    assert list(incident.forwarded_to.values_list("slug", flat=True)) == ["csp-gx"]
    ingest(job="scs-check-other", labels={})
    assert Incident.objects.get(job="scs-check-other").route == late


def test_ignore_route_stores_nothing(ingest):
    Route.objects.create(order=1, match={"pipeline": "check"}, action="ignore")
    assert ingest(pipeline="check") == {"incidents": [], "ignored": 1}
    assert not Incident.objects.exists()


def test_threshold_keeps_flaky_jobs_quiet_until_they_really_fail(ingest, repo, frozen):
    Route.objects.create(
        order=1, match={"job": "scs-check-*"}, min_occurrences=3, window_seconds=3600
    )
    ingest()
    frozen.shift(timedelta(hours=2))  # the first one falls out of the window
    ingest()
    frozen.shift(timedelta(minutes=5))
    ingest()
    incident = Incident.objects.get()
    assert incident.next_escalation_at is None  # three in all, but two within the hour
    frozen.shift(timedelta(minutes=5))
    ingest()
    incident.refresh_from_db()
    assert incident.escalation_started_at == NOW + timedelta(hours=2, minutes=10)
    assert incident.next_escalation_at == incident.escalation_started_at


def test_non_voting_failure_is_recorded_but_pages_only_by_route(ingest, repo):
    ingest(voting=False)
    quiet = Incident.objects.get()
    assert quiet.pages is False and quiet.next_escalation_at is None
    Route.objects.create(order=1, match={"job": "loud-*"}, action="page")
    ingest(voting=False, job="loud-job")
    assert Incident.objects.get(job="loud-job").next_escalation_at is not None


def test_silence_mutes_new_matching_incidents_until_it_ends(ingest, repo, admin_api):
    ends = NOW + timedelta(hours=3)
    Silence.objects.create(
        match={"subject": "gx-*"},
        starts=NOW - timedelta(hours=1),
        ends=ends,
        comment="provider maintenance",
    )
    created = ingest()["incidents"][0]
    body = admin_api.get(f"/api/v1/incidents/{created['id']}/").json()
    assert body["muted"] is True and body["muted_until"] == "2026-11-26T15:00:00Z"
    assert body["escalation"]["next_at"] == "2026-11-26T15:00:00Z"
    assert [e["kind"] for e in body["timeline"]] == ["created", "muted"]
    ingest(subject="other")
    assert Incident.objects.get(subject="other").muted_until is None


def test_history_is_bounded_while_the_count_is_exact(ingest):
    for _ in range(120):
        ingest()
    incident = Incident.objects.get()
    assert incident.occurrences == 120
    assert Occurrence.objects.filter(incident=incident).count() <= 2 * Occurrence.HISTORY
    kinds = list(incident.timeline.values_list("detail", flat=True))
    assert kinds.count("occurrence 100") == 1 and len(kinds) < 12


def test_retry_with_the_same_event_id_counts_once(ingest):
    ingest(event_id="delivery-1")
    assert ingest(event_id="delivery-1")["incidents"][0]["occurrences"] == 1
    assert ingest(event_id="delivery-2")["incidents"][0]["occurrences"] == 2


def test_explicit_dedup_key_groups_across_jobs(ingest):
    ingest(dedup_key="cloud-gx-down", job="a")
    ingest(dedup_key="cloud-gx-down", job="b")
    assert Incident.objects.get().occurrences == 2


def test_batch_of_events_is_stored_together(token_client):
    client = token_client("ingest")
    events = [FAILURE, {**FAILURE, "job": "second"}]
    body = client.post("/api/v1/events/", events, format="json").json()
    assert [i["created"] for i in body["incidents"]] == [True, True]
