"""Grafana Alerting's webhook (``"version": "1"``) at /api/v1/ingest/grafana/ and at
the Alertmanager endpoint, with the payload exactly as Grafana documents it
(tests/fixtures/grafana-alerting-webhook.json)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from escalation.ingest import grafana
from escalation.models import Incident
from tests.escalation.test_metrics import samples

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "grafana-alerting-webhook.json"
GRAFANA_URL = "/api/v1/ingest/grafana/"
ALERTMANAGER_URL = "/api/v1/ingest/alertmanager/"
URLS = [GRAFANA_URL, ALERTMANAGER_URL]
MEMORY = "grafana:1:c6eadffa33fcdf37"
CPU = "grafana:1:bc97ff14869b13e3"


def documented() -> dict:
    return json.loads(FIXTURE.read_text())


def resolved(index: int = 0) -> dict:
    """The documented webhook with alert ``index`` resolved (as Grafana sends it then)."""
    webhook = documented()
    alert = webhook["alerts"][index]
    alert["status"] = "resolved"
    alert["endsAt"] = "2021-10-12T10:21:03.157076+02:00"
    return webhook


@pytest.fixture
def ingest(token_client) -> APIClient:
    return token_client("ingest")


def post(client: APIClient, url: str, body) -> dict:
    response = client.post(url, body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


@pytest.mark.parametrize("url", URLS)
def test_documented_firing_webhook_opens_one_failure_incident_per_alert(ingest, url):
    body = post(ingest, url, documented())

    assert [(i["created"], i["state"]) for i in body["incidents"]] == [(True, "open")] * 2
    memory = Incident.objects.get(dedup_key=MEMORY)
    assert (memory.source, memory.repo, memory.result) == (
        "grafana",
        "High memory usage",
        "High memory usage",
    )
    assert memory.summary == "This alert was triggered for zone us-1"
    assert memory.url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert memory.workflow == "https://myrunbook.com/runbook/1234"
    assert memory.log_url == ""  # the documented dashboardURL and panelURL are empty
    assert memory.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert memory.first_seen == datetime(
        2021, 10, 12, 9, 51, 3, 157076, tzinfo=timezone(timedelta(hours=2))
    )
    payload = memory.history.get().payload  # the whole alert, Grafana's fields included
    assert payload["values"] == {"B": 44.23943737541908, "C": 1}
    assert payload["silenceURL"].startswith("https://play.grafana.org/alerting/silence/new")
    assert Incident.objects.get(dedup_key=CPU).summary == "This alert was triggered for zone eu-1"


@pytest.mark.parametrize("url", URLS)
def test_documented_resolved_alert_resolves_only_its_incident(ingest, url):
    post(ingest, url, documented())
    body = post(ingest, url, resolved(0))

    states = dict(Incident.objects.values_list("dedup_key", "state"))
    assert states == {MEMORY: "resolved", CPU: "open"}
    assert "resolved" in [i["state"] for i in body["incidents"]]
    memory = Incident.objects.get(dedup_key=MEMORY)
    assert memory.resolved_by is None


def test_both_endpoints_share_one_incident_per_alert(ingest):
    post(ingest, GRAFANA_URL, documented())
    again = post(ingest, ALERTMANAGER_URL, documented())

    assert [(i["created"], i["occurrences"]) for i in again["incidents"]] == [(False, 1)] * 2
    assert Incident.objects.count() == 2


def test_a_repeated_notification_counts_once_and_a_new_start_counts_again(ingest):
    post(ingest, GRAFANA_URL, documented())
    repeat = post(ingest, GRAFANA_URL, documented())
    assert [(i["created"], i["occurrences"]) for i in repeat["incidents"]] == [(False, 1)] * 2
    later = documented()
    later["alerts"][0]["startsAt"] = "2021-10-12T11:51:03.157076+02:00"
    body = post(ingest, GRAFANA_URL, later)
    assert sorted(i["occurrences"] for i in body["incidents"]) == [1, 2]


def test_other_organisations_with_the_same_labels_are_other_incidents(ingest):
    post(ingest, GRAFANA_URL, documented())
    other = documented()
    other["orgId"] = 2
    body = post(ingest, GRAFANA_URL, other)
    assert [i["created"] for i in body["incidents"]] == [True, True]
    assert Incident.objects.filter(dedup_key="grafana:2:c6eadffa33fcdf37").exists()


def test_panel_or_dashboard_url_becomes_the_incident_link(ingest):
    webhook = documented()
    webhook["alerts"][0]["dashboardURL"] = "https://play.grafana.org/d/abc/mem"
    webhook["alerts"][0]["panelURL"] = "https://play.grafana.org/d/abc/mem?viewPanel=3"
    webhook["alerts"][1]["dashboardURL"] = "https://play.grafana.org/d/def/cpu"
    post(ingest, GRAFANA_URL, webhook)
    links = dict(Incident.objects.values_list("dedup_key", "log_url"))
    assert links == {
        MEMORY: "https://play.grafana.org/d/abc/mem?viewPanel=3",
        CPU: "https://play.grafana.org/d/def/cpu",
    }


def test_links_that_are_not_http_are_dropped(ingest):
    webhook = documented()
    webhook["alerts"][0]["panelURL"] = "javascript:alert(1)"
    webhook["alerts"][0]["generatorURL"] = "javascript:alert(1)"
    post(ingest, GRAFANA_URL, webhook)
    memory = Incident.objects.get(dedup_key=MEMORY)
    assert (memory.url, memory.log_url) == ("", "")


def test_repo_and_job_labels_route_like_alertmanager():
    webhook = documented()
    webhook["alerts"][0]["labels"].update(repo="SovereignCloudStack/standards", job="node")
    first, second = grafana.parse(webhook)
    assert (first.repo, first.job, first.source) == (
        "SovereignCloudStack/standards",
        "node",
        "grafana",
    )
    assert (second.repo, second.job) == ("High CPU usage", "")


def _grafana(**changes):
    webhook = documented()
    alert = changes.pop("alert", {})
    webhook["alerts"][0].update(alert)
    webhook.update(changes)
    return {key: value for key, value in webhook.items() if value is not ...}


GRAFANA_BAD = {
    "version-4-at-grafana": _grafana(version="4"),
    "no-version": _grafana(version=...),
    "org-text": _grafana(orgId="one"),
    "org-bool": _grafana(orgId=True),
    "no-alerts": _grafana(alerts=...),
    "alerts-object": _grafana(alerts={"a": 1}),
    "alert-string": _grafana(alerts=["x"]),
    "status-pending": _grafana(alert={"status": "pending"}),
    "status-alerting": _grafana(alert={"status": "alerting"}),
    "no-fingerprint": _grafana(alert={"fingerprint": None}),
    "fingerprint-number": _grafana(alert={"fingerprint": 7}),
    "labels-string": _grafana(alert={"labels": "x"}),
    "no-alertname": _grafana(alert={"labels": {}}),
    "starts-at-text": _grafana(alert={"startsAt": "yesterday"}),
    "nul": _grafana(alert={"annotations": {"summary": "a\x00b"}}),
    "list": [],
    "string": "x",
}


@pytest.mark.parametrize("body", GRAFANA_BAD.values(), ids=GRAFANA_BAD.keys())
def test_bad_grafana_webhooks_are_400_and_store_nothing(ingest, body):
    response = ingest.post(GRAFANA_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert not Incident.objects.exists()


@pytest.mark.parametrize("key", ["org-text", "status-pending", "no-fingerprint", "nul"])
def test_bad_grafana_webhooks_at_the_alertmanager_endpoint_are_400(ingest, key):
    response = ingest.post(ALERTMANAGER_URL, GRAFANA_BAD[key], format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def test_the_grafana_endpoint_needs_an_ingest_token(token_client):
    assert APIClient().post(GRAFANA_URL, documented(), format="json").status_code == 401
    assert token_client("read").post(GRAFANA_URL, documented(), format="json").status_code == 403


def test_the_error_names_the_field(ingest):
    response = ingest.post(GRAFANA_URL, _grafana(alert={"status": "pending"}), format="json")
    assert "alerts.0.status" in response.json()["error"]["fields"]
    unknown = copy.deepcopy(documented())
    unknown["version"] = "2"
    response = ingest.post(ALERTMANAGER_URL, unknown, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["error"]["fields"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e400"])
def test_a_non_finite_value_is_400_and_stores_nothing(ingest, number):
    body = FIXTURE.read_text().replace("44.23943737541908", number, 1)
    assert number in body
    response = ingest.post(GRAFANA_URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Incident.objects.exists()


def test_a_huge_summary_is_cut_and_the_alert_still_pages(ingest):
    webhook = documented()
    webhook["alerts"][0]["annotations"]["summary"] = "x" * 100_000
    post(ingest, GRAFANA_URL, webhook)
    assert len(Incident.objects.get(dedup_key=MEMORY).summary) == 4000


def test_metrics_count_grafana_reports_under_their_own_source(ingest, token_client):
    post(ingest, ALERTMANAGER_URL, documented())
    post(ingest, GRAFANA_URL, resolved(1))
    got = samples(token_client("read"))
    assert got[("oncall_reports_total", (("result", "failure"), ("source", "grafana")))] == 2
    assert got[("oncall_reports_total", (("result", "recovered"), ("source", "grafana")))] == 1
    assert ("oncall_reports_total", (("result", "failure"), ("source", "alertmanager"))) not in got
