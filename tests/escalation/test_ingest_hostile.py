"""Hostile deliveries on every ingest endpoint: a clear 400 and nothing stored, or a
stored failure with the hostile part cut or dropped; never a 500 (issue 12, section 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escalation.ingest import clean, github
from escalation.models import Incident, Occurrence
from oncall.api.parsers import MAX_DEPTH
from tests.escalation.test_ingest_errors import EVENT, EVENTS, error

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ZUUL = "/api/v1/ingest/zuul/"
ALERTMANAGER = "/api/v1/ingest/alertmanager/"
GRAFANA = "/api/v1/ingest/grafana/"
GITHUB = "/api/v1/ingest/github/"
SECRET = "hostile-webhook-secret"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def ingest(token_client):
    return token_client("ingest")


def nothing_stored() -> bool:
    return not Incident.objects.exists() and not Occurrence.objects.exists()


# Nesting and numbers, refused by the one JSON parser ------------------------------------


@pytest.mark.parametrize("url", [EVENTS, ZUUL, ALERTMANAGER, GRAFANA])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_deeply_nested_json_is_400_on_every_ingest_endpoint(ingest, url, depth):
    body = json.dumps({**EVENT, "extra": "PLACEHOLDER"}).replace('"PLACEHOLDER"', nested(depth))

    response = ingest.post(url, body, content_type="application/json")

    assert "nested deeper" in error(response, 400, "invalid")["fields"]["non_field_errors"][0]
    assert nothing_stored()


def test_nesting_up_to_the_limit_is_accepted(ingest):
    body = json.dumps({**EVENT, "extra": "PLACEHOLDER"}).replace(
        '"PLACEHOLDER"', nested(MAX_DEPTH - 1)
    )

    assert ingest.post(EVENTS, body, content_type="application/json").status_code == 202


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_in_an_event_is_400_and_stores_nothing(ingest, number):
    body = json.dumps({**EVENT, "extra": "PLACEHOLDER"}).replace('"PLACEHOLDER"', number)

    response = ingest.post(EVENTS, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert nothing_stored()


def test_a_non_finite_zuul_start_time_is_400_and_stores_nothing(ingest):
    body = fixture("zuul-periodic-failure.json").replace("1795661410.004", "1e400", 1)
    assert "1e400" in body

    response = ingest.post(ZUUL, body, content_type="application/json")

    error(response, 400, "invalid")
    assert nothing_stored()


def test_a_signed_github_body_with_a_non_finite_number_is_400(client, settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    body = json.loads(fixture("github-workflow_run-failure.json"))
    body["workflow_run"]["extra"] = "PLACEHOLDER"
    raw = json.dumps(body).replace('"PLACEHOLDER"', "1e400").encode()

    response = client.post(
        GITHUB,
        raw,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": github.signature(SECRET, raw),
        },
    )

    error(response, 400, "invalid")
    assert nothing_stored()


# Lengths and sizes --------------------------------------------------------------------


@pytest.mark.parametrize("length", [21, 50, 51])
def test_an_event_source_longer_than_the_timeline_channel_is_400_naming_source(ingest, length):
    response = ingest.post(EVENTS, {**EVENT, "source": "s" * length}, format="json")

    assert "source" in error(response, 400, "invalid")["fields"]
    assert nothing_stored()


def test_an_event_source_of_the_longest_allowed_length_is_stored(ingest):
    response = ingest.post(EVENTS, {**EVENT, "source": "s" * clean.SOURCE}, format="json")

    assert response.status_code == 202, response.content
    incident = Incident.objects.get()
    assert incident.source == "s" * clean.SOURCE
    assert incident.timeline.get(kind="created").channel == "s" * clean.SOURCE


def test_a_huge_summary_is_stored_cut_to_the_documented_size(ingest):
    summary = "x" * 900_000

    response = ingest.post(EVENTS, {**EVENT, "summary": summary}, format="json")

    assert response.status_code == 202, response.content
    stored = Incident.objects.get().summary
    assert len(stored) == clean.SUMMARY
    assert stored.startswith("x" * 100) and stored.endswith("…")


def test_a_huge_alertmanager_summary_is_cut_too(ingest):
    body = json.loads(fixture("alertmanager-firing.json"))
    body["alerts"][0]["annotations"]["summary"] = "y" * 500_000

    assert ingest.post(ALERTMANAGER, body, format="json").status_code == 202

    assert max(len(s) for s in Incident.objects.values_list("summary", flat=True)) == clean.SUMMARY


# Links: only http(s) reaches a notification ---------------------------------------------


@pytest.mark.parametrize(
    "link", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "ftp://x.org/a"]
)
def test_alertmanager_links_other_than_http_are_dropped(ingest, link):
    body = json.loads(fixture("alertmanager-firing.json"))
    for alert in body["alerts"]:
        alert["generatorURL"] = link
        alert["annotations"]["runbook_url"] = link

    assert ingest.post(ALERTMANAGER, body, format="json").status_code == 202

    incidents = Incident.objects.all()
    assert incidents
    assert all(i.url == "" and link not in i.workflow for i in incidents)


def test_alertmanager_http_links_are_kept(ingest):
    body = json.loads(fixture("alertmanager-firing.json"))
    body["alerts"] = body["alerts"][:1]
    body["alerts"][0]["generatorURL"] = "https://prometheus.example.org/graph?g0.expr=up"

    assert ingest.post(ALERTMANAGER, body, format="json").status_code == 202

    assert Incident.objects.get().url == "https://prometheus.example.org/graph?g0.expr=up"


@pytest.mark.parametrize("field", ["url", "log_url"])
@pytest.mark.parametrize("link", ["javascript:alert(1)", "ftp://files.example.org/log"])
def test_an_event_link_other_than_http_is_400_naming_it(ingest, field, link):
    response = ingest.post(EVENTS, {**EVENT, field: link}, format="json")

    assert field in error(response, 400, "invalid")["fields"]
    assert nothing_stored()


def test_clean_url_keeps_only_http_and_https():
    assert clean.url("https://a.example.org/x") == "https://a.example.org/x"
    assert clean.url("HTTP://a.example.org/") == "HTTP://a.example.org/"
    assert clean.url(" javascript:alert(1)") == ""
    assert clean.url("https://a.example.org/\nx") == ""
    assert clean.url("//a.example.org/") == ""


@pytest.mark.parametrize("body", ["null", "[null, null]", "[1, {}]", '[{"source": "x"}, "s"]'])
def test_events_that_are_not_objects_are_400_naming_the_item(ingest, body):
    response = ingest.post(EVENTS, body, content_type="application/json")

    assert error(response, 400, "invalid")["fields"]
    assert nothing_stored()
