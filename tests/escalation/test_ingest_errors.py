"""Bad input on ingestion and incident actions: 4xx in the contract's error shape, never a
500, and nothing already stored changes (docs/api.md, "Errors")."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from escalation.models import Incident, Occurrence, TimelineEntry
from rotations.models import Person

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
EVENT = {
    "source": "zuul",
    "status": "failure",
    "repo": "SovereignCloudStack/standards",
    "job": "scs-check-gx-scs-main",
    "pipeline": "periodic-hourly",
    "branch": "main",
    "summary": "Build failed.",
    "labels": {"cloud": "gx-scs"},
    "occurred_at": "2026-11-26T03:00:12Z",
}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error object of a response, checked against the contract's shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"code", "message", "fields"}
    for problems in body["error"].get("fields", {}).values():
        assert problems and all(isinstance(p, str) for p in problems), body
    return body["error"]


def state(incident: Incident) -> tuple[Any, ...]:
    """Everything a bad request must leave alone."""
    incident.refresh_from_db()
    return (
        incident.state,
        incident.occurrences,
        incident.last_seen,
        incident.summary,
        incident.claimed_by_id,
        incident.resolved_at,
        incident.muted_until,
        Occurrence.objects.filter(incident=incident).count(),
        TimelineEntry.objects.filter(incident=incident).count(),
    )


@pytest.fixture
def ingest(token_client):
    return token_client("ingest")


@pytest.fixture
def act(token_client):
    return token_client("act")


@pytest.fixture
def alice() -> Person:
    return Person.objects.create(handle="alice", name="Alice Example", email="alice@example.org")


@pytest.fixture
def incident(ingest) -> Incident:
    """An open incident that has been reported twice."""
    for _ in range(2):
        assert ingest.post(EVENTS, EVENT, format="json").status_code == 202
    return Incident.objects.get()


# Ingestion: bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"source": "zuul",', b"\xff\xfe{}", b"[1,"])
def test_malformed_json_is_400_malformed_json_and_changes_nothing(ingest, incident, body):
    before = state(incident)

    response = ingest.post(EVENTS, body, content_type="application/json")

    error(response, 400, "malformed_json")
    assert state(incident) == before
    assert Incident.objects.count() == 1


def test_missing_required_fields_are_named(ingest):
    response = ingest.post(EVENTS, {"job": "j"}, format="json")

    fields = error(response, 400, "invalid")["fields"]
    assert {"source", "status", "repo"} <= set(fields)
    assert not Incident.objects.exists()


@pytest.mark.parametrize("summary", [None, "", "   "])
def test_failure_without_summary_is_400_naming_summary(ingest, summary):
    event = {key: value for key, value in EVENT.items() if key != "summary"}
    if summary is not None:
        event["summary"] = summary

    response = ingest.post(EVENTS, event, format="json")

    assert set(error(response, 400, "invalid")["fields"]) == {"summary"}
    assert not Incident.objects.exists()


def test_success_needs_no_summary(ingest, incident):
    event = {key: value for key, value in EVENT.items() if key != "summary"}

    response = ingest.post(EVENTS, {**event, "status": "success"}, format="json")

    assert response.status_code == 202
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "broken"),
        ("status", None),
        ("source", ""),
        ("repo", ["a", "b"]),
        ("repo", {"name": "x"}),
        ("labels", "cloud=gx-scs"),
        ("labels", ["cloud"]),
        ("labels", {"cloud": {"nested": "x"}}),
        ("labels", {"cloud": None}),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2026-13-45T99:00:00Z"),
        ("occurred_at", {"at": 1}),
        ("url", "not a url"),
        ("voting", "maybe"),
        ("summary", {"text": "x"}),
        ("event_id", "x" * 201),
        ("repo", "x" * 256),
    ],
)
def test_wrong_types_are_400_naming_the_field_and_change_nothing(ingest, incident, field, value):
    before = state(incident)

    response = ingest.post(EVENTS, {**EVENT, field: value}, format="json")

    assert set(error(response, 400, "invalid")["fields"]) == {field}
    assert state(incident) == before
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("body", ["42", '"failure"', "true", "null", "[]", "[1]", "[[]]", "{}"])
def test_a_body_that_is_not_an_event_is_400(ingest, body):
    response = ingest.post(EVENTS, body, content_type="application/json")

    error(response, 400, "invalid")
    assert not Incident.objects.exists()


def test_more_than_500_events_in_one_delivery_is_400(ingest):
    response = ingest.post(EVENTS, [EVENT] * 501, format="json")

    error(response, 400, "invalid")
    assert not Incident.objects.exists()


def test_body_over_one_mebibyte_is_413_and_changes_nothing(ingest, incident):
    before = state(incident)
    body = json.dumps({**EVENT, "summary": "x" * (1024 * 1024)})

    response = ingest.post(EVENTS, body, content_type="application/json")

    error(response, 413, "too_large")
    assert state(incident) == before


def test_batch_with_one_bad_item_stores_nothing_and_names_the_item(ingest, incident):
    before = state(incident)
    fresh = {**EVENT, "job": "another-job"}
    bad = {**EVENT, "job": "third-job", "summary": ""}

    response = ingest.post(EVENTS, [EVENT, fresh, bad], format="json")

    assert error(response, 400, "invalid")["fields"] == {"2.summary": ["Required for a failure."]}
    assert state(incident) == before
    assert Incident.objects.count() == 1


def test_batch_names_every_bad_item_and_field(ingest):
    response = ingest.post(
        EVENTS,
        [{**EVENT, "status": "broken"}, EVENT, {**EVENT, "labels": "x", "repo": ""}],
        format="json",
    )

    assert set(error(response, 400, "invalid")["fields"]) == {"0.status", "2.labels", "2.repo"}
    assert not Incident.objects.exists()


# Ingestion: authentication and scope ---------------------------------------------------------


def test_events_without_token_are_401(client, incident):
    before = state(incident)

    response = client.post(EVENTS, EVENT, content_type="application/json")

    error(response, 401, "not_authenticated")
    assert state(incident) == before


@pytest.mark.parametrize(
    "header", ["Bearer not-a-token", "Bearer", "Token a b", "Basic Zm9vOmJhcg=="]
)
def test_events_with_unknown_or_malformed_token_are_401(client, header):
    response = client.post(
        EVENTS, EVENT, content_type="application/json", HTTP_AUTHORIZATION=header
    )

    error(response, 401, "not_authenticated")
    assert not Incident.objects.exists()


@pytest.mark.parametrize("scope", ["read", "act"])
def test_events_with_a_token_lacking_ingest_scope_are_403(token_client, incident, scope):
    before = state(incident)

    response = token_client(scope).post(EVENTS, EVENT, format="json")

    error(response, 403, "permission_denied")
    assert state(incident) == before


@pytest.mark.parametrize("action", ["claim", "unclaim", "resolve", "mute", "unmute"])
def test_an_ingest_token_cannot_act_on_incidents(ingest, incident, alice, action):
    before = state(incident)

    response = ingest.post(
        f"/api/v1/incidents/{incident.pk}/{action}/", {"by": "alice", "minutes": 5}, format="json"
    )

    error(response, 403, "permission_denied")
    assert state(incident) == before


def test_actions_without_token_are_401(client, incident):
    response = client.post(
        f"/api/v1/incidents/{incident.pk}/claim/", {"by": "x"}, content_type="application/json"
    )

    error(response, 401, "not_authenticated")


# Incident actions ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["claim", "unclaim", "resolve", "mute", "unmute"])
@pytest.mark.parametrize("by", ["nobody", "nobody@example.org", "@nobody:example.org"])
def test_unknown_person_is_400_unknown_person(act, incident, alice, action, by):
    before = state(incident)

    response = act.post(
        f"/api/v1/incidents/{incident.pk}/{action}/", {"by": by, "minutes": 5}, format="json"
    )

    err = error(response, 400, "unknown_person")
    assert "fields" not in err
    assert state(incident) == before


def test_action_without_by_from_a_token_of_nobody_is_400_naming_by(act, incident):
    before = state(incident)

    response = act.post(f"/api/v1/incidents/{incident.pk}/claim/", {}, format="json")

    assert set(error(response, 400, "invalid")["fields"]) == {"by"}
    assert state(incident) == before


def test_action_on_unknown_incident_is_404(act, alice):
    for pk in ("999999", "abc"):
        response = act.post(f"/api/v1/incidents/{pk}/claim/", {"by": "alice"}, format="json")
        error(response, 404, "not_found")


def test_action_with_malformed_json_is_400(act, incident, alice):
    before = state(incident)

    response = act.post(
        f"/api/v1/incidents/{incident.pk}/claim/", b'{"by": ', content_type="application/json"
    )

    error(response, 400, "malformed_json")
    assert state(incident) == before


def _resolved(act, incident: Incident) -> Incident:
    response = act.post(f"/api/v1/incidents/{incident.pk}/resolve/", {"by": "alice"}, format="json")
    assert response.status_code == 200, response.content
    return incident


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("resolved", "resolve"),
        ("resolved", "claim"),
        ("resolved", "unclaim"),
        ("resolved", "mute"),
        ("resolved", "unmute"),
        ("open", "unclaim"),
        ("open", "unmute"),
        ("claimed_by_bob", "claim"),
    ],
)
def test_illegal_transition_is_409_invalid_state_and_changes_nothing(
    act, incident, alice, setup, action
):
    bob = Person.objects.create(handle="bob", name="Bob Example")
    url = f"/api/v1/incidents/{incident.pk}"
    if setup == "resolved":
        _resolved(act, incident)
    elif setup == "claimed_by_bob":
        assert act.post(f"{url}/claim/", {"by": bob.handle}, format="json").status_code == 200
    before = state(incident)

    response = act.post(f"{url}/{action}/", {"by": "alice", "minutes": 30}, format="json")

    err = error(response, 409, "invalid_state")
    assert "fields" not in err
    assert state(incident) == before


def test_claiming_again_by_the_claimer_is_not_an_error(act, incident, alice):
    url = f"/api/v1/incidents/{incident.pk}/claim/"
    assert act.post(url, {"by": "alice"}, format="json").status_code == 200
    before = state(incident)

    response = act.post(url, {"by": "alice"}, format="json")

    assert response.status_code == 200
    assert state(incident) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": -5}, "minutes"),
        ({"minutes": "soon"}, "minutes"),
        ({"minutes": 1.5}, "minutes"),
        ({"until": "soon"}, "until"),
        ({"until": "past"}, "until"),
        ({"until": "now"}, "until"),
        ({}, None),
    ],
)
def test_mute_needs_a_positive_duration_or_a_future_end(act, incident, alice, body, field):
    now = timezone.now()
    if body.get("until") == "past":
        body = {"until": (now - timedelta(hours=1)).isoformat()}
    elif body.get("until") == "now":
        body = {"until": (now - timedelta(seconds=1)).isoformat()}
    before = state(incident)

    response = act.post(
        f"/api/v1/incidents/{incident.pk}/mute/", {"by": "alice", **body}, format="json"
    )

    fields = error(response, 400, "invalid")["fields"]
    if field is not None:
        assert set(fields) == {field}
    assert state(incident) == before


def test_a_good_mute_after_bad_ones_still_works(act, incident, alice):
    url = f"/api/v1/incidents/{incident.pk}/mute/"
    assert act.post(url, {"by": "alice", "minutes": 0}, format="json").status_code == 400

    response = act.post(url, {"by": "alice", "minutes": 30}, format="json")

    assert response.status_code == 200
    assert response.json()["muted_until"] is not None
    assert incident.timeline.filter(kind=TimelineEntry.Kind.MUTED).count() == 1


# Values the serializer does not look at must not reach the database as errors ----------------


@pytest.mark.parametrize(
    "event", [{**EVENT, "extra": {"note": "a\x00b"}}, {**EVENT, "source": "zuul\x00"}]
)
def test_nul_anywhere_in_the_event_is_400_not_500(ingest, incident, event):
    """PostgreSQL cannot store U+0000 in text or jsonb, and the raw event is kept."""
    before = state(incident)

    response = ingest.post(EVENTS, event, format="json")

    error(response, 400, "invalid")
    assert state(incident) == before


def test_long_names_give_a_storable_derived_dedup_key(ingest):
    event = {**EVENT, "repo": "r" * 255, "job": "j" * 255, "pipeline": "p" * 255}

    first = ingest.post(EVENTS, event, format="json")
    again = ingest.post(EVENTS, event, format="json")
    other = ingest.post(EVENTS, {**event, "branch": "other"}, format="json")

    assert (first.status_code, again.status_code, other.status_code) == (202, 202, 202)
    assert sorted(Incident.objects.values_list("occurrences", flat=True)) == [1, 2]


def test_long_idempotency_key_is_stored_or_refused_not_a_500(ingest):
    response = ingest.post(EVENTS, EVENT, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300)
    again = ingest.post(EVENTS, EVENT, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300)

    assert response.status_code in (202, 400), response.content
    if response.status_code == 202:
        assert again.status_code == 202
        assert Incident.objects.get().occurrences == 1
