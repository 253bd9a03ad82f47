"""Ingestion of the senders' own formats: Zuul, Alertmanager, GitHub (docs/api.md, "Ingestion")."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from escalation.ingest import BadPayload, alertmanager, github, zuul
from escalation.models import Incident

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of shared/fixtures
ZUUL_URL = "/api/v1/ingest/zuul/"
ALERTMANAGER_URL = "/api/v1/ingest/alertmanager/"
GITHUB_URL = "/api/v1/ingest/github/"
GATE_KEY = "zuul:scs:SovereignCloudStack/standards:main:periodic-hourly:scs-check-gx-scs-main"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def ingest(token_client) -> APIClient:
    return token_client("ingest")


def post(client: APIClient, url: str, body) -> dict:
    response = client.post(url, body, format="json")
    assert response.status_code == 202, response.content
    return response.json()


# Zuul ----------------------------------------------------------------------------


def test_zuul_periodic_failure_opens_one_incident_for_the_failed_build_only(ingest):
    body = post(ingest, ZUUL_URL, fixture("zuul-periodic-failure.json"))

    assert [(i["created"], i["state"], i["occurrences"]) for i in body["incidents"]] == [
        (True, "open", 1)
    ]
    assert body["ignored"] == 0
    incident = Incident.objects.get()  # the passed job and the retried build made none
    assert incident.dedup_key == GATE_KEY
    assert (incident.source, incident.repo, incident.job, incident.pipeline, incident.branch) == (
        "zuul",
        "SovereignCloudStack/standards",
        "scs-check-gx-scs-main",
        "periodic-hourly",
        "main",
    )
    assert (incident.result, incident.category, incident.pages) == ("FAILURE", "job", True)
    assert incident.summary == "scs-check-gx-scs-main: FAILURE — Build failed."
    assert incident.url.endswith("/build/8c1e2f3a4b5c4d6e9f8a7b6c5d4e3f21")
    assert incident.log_url.endswith("/scs-check-gx-scs-main/8c1e2f3/")
    assert incident.labels == {"tenant": "scs"}
    assert incident.first_seen == datetime.fromtimestamp(1795661602.377, tz=UTC)


def test_zuul_same_message_twice_counts_once(ingest):
    message = fixture("zuul-periodic-failure.json")
    post(ingest, ZUUL_URL, message)
    again = post(ingest, ZUUL_URL, message)

    assert [(i["created"], i["occurrences"]) for i in again["incidents"]] == [(False, 1)]
    assert Incident.objects.get().occurrences == 1


def test_zuul_next_failing_build_counts_a_second_occurrence(ingest):
    post(ingest, ZUUL_URL, fixture("zuul-periodic-failure.json"))
    later = fixture("zuul-periodic-failure.json")
    later["buildset"]["builds"][0]["uuid"] = "f" * 32

    assert post(ingest, ZUUL_URL, later)["incidents"][0]["occurrences"] == 2


def test_zuul_success_message_resolves_the_failed_job(ingest):
    incident_id = post(ingest, ZUUL_URL, fixture("zuul-periodic-failure.json"))["incidents"][0][
        "id"
    ]
    body = post(ingest, ZUUL_URL, fixture("zuul-periodic-success.json"))

    assert [(i["id"], i["state"]) for i in body["incidents"]] == [(incident_id, "resolved")]
    incident = Incident.objects.get(pk=incident_id)
    assert (incident.state, incident.resolved_by) == ("resolved", None)


def test_zuul_node_failure_is_infrastructure_with_null_times_and_log_url(ingest):
    post(ingest, ZUUL_URL, fixture("zuul-compliance-node-failure.json"))

    incident = Incident.objects.get()
    assert (incident.result, incident.category) == ("NODE_FAILURE", "infrastructure")
    assert (incident.repo, incident.pipeline) == (
        "SovereignCloudStack/zuul-config",
        "compliance_check",
    )
    assert incident.log_url == ""


def test_zuul_non_voting_failure_is_recorded_without_paging(ingest, token_client):
    body = post(ingest, ZUUL_URL, fixture("zuul-check-nonvoting-failure.json"))

    detail = token_client("read").get(f"/api/v1/incidents/{body['incidents'][0]['id']}/").json()
    assert (detail["job"], detail["pages"], detail["state"]) == (
        "scs-check-gx-scs-main",
        False,
        "open",
    )
    assert detail["labels"] == {"tenant": "scs", "change": "812"}
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    ("result", "category"),
    [
        ("RETRY_LIMIT", "infrastructure"),
        ("POST_FAILURE", "infrastructure"),
        ("TIMED_OUT", "infrastructure"),
        ("DISK_FULL", "infrastructure"),
        ("LOST", "infrastructure"),
        ("EXCEPTION", "infrastructure"),
        ("MERGE_CONFLICT", "infrastructure"),
        ("CONFIG_ERROR", "infrastructure"),
        ("FAILURE", "job"),
        ("Compliance tests failed for gx-scs", "job"),
    ],
)
def test_zuul_failure_results_and_their_category(result, category):
    message = fixture("zuul-periodic-failure.json")
    message["buildset"]["builds"][0]["result"] = result

    failures = [r for r in zuul.parse_message(message) if r.status == "failure"]
    assert [(r.result, r.category) for r in failures] == [(result, category)]


@pytest.mark.parametrize("result", [None, "SKIPPED", "CANCELED", "ABORTED"])
def test_zuul_builds_without_verdict_count_in_nothing(ingest, result):
    message = fixture("zuul-periodic-failure.json")
    for build in message["buildset"]["builds"]:
        build["result"] = result

    assert post(ingest, ZUUL_URL, message) == {"incidents": [], "ignored": 0}
    assert not Incident.objects.exists()


def test_zuul_failed_retry_build_is_not_a_failure():
    message = fixture("zuul-periodic-success.json")
    message["buildset"]["retry_builds"] = fixture("zuul-periodic-failure.json")["buildset"][
        "builds"
    ]

    assert all(r.status == "success" for r in zuul.parse_message(message))


@pytest.mark.parametrize("action", ["start", "enqueue", "dequeue"])
def test_zuul_messages_without_results_report_nothing(action):
    message = fixture("zuul-periodic-failure.json")
    message["action"] = action

    assert zuul.parse_message(message) == []


@pytest.mark.parametrize(
    ("change", "label"), [(812, "812"), ("812", "812"), ("", None), (None, None)]
)
def test_zuul_change_may_be_int_string_or_empty(change, label):
    message = fixture("zuul-check-nonvoting-failure.json")
    message["change"] = change
    message["changes"][0]["change"] = change

    report = zuul.parse_message(message)[0]
    assert report.labels.get("change") == label


def test_zuul_project_and_branch_fall_back_to_top_level_fields_and_null_times():
    message = fixture("zuul-periodic-failure.json")
    del message["changes"]
    build = message["buildset"]["builds"][0]
    del build["change"]
    build["end_time"] = None
    message["branch"] = "stable/2026"

    report = zuul.parse_message(message)[0]
    assert report.dedup_key == GATE_KEY.replace(":main:", ":stable/2026:")
    assert report.occurred_at == datetime.fromtimestamp(message["timestamp"], tz=UTC)


def test_zuul_config_error_without_builds_is_a_buildset_incident_until_jobs_run(ingest):
    message = fixture("zuul-periodic-failure.json")
    message.update(action="config-error", message="Zuul encountered a syntax error\n...")
    message["buildset"].update(result="CONFIG_ERROR", builds=[], retry_builds=[])
    body = post(ingest, ZUUL_URL, message)

    incident = Incident.objects.get(pk=body["incidents"][0]["id"])
    assert (incident.job, incident.result) == ("", "CONFIG_ERROR")
    assert incident.summary == "periodic-hourly: CONFIG_ERROR — Zuul encountered a syntax error"
    post(ingest, ZUUL_URL, fixture("zuul-periodic-success.json"))
    incident.refresh_from_db()
    assert incident.state == "resolved"


def test_zuul_long_custom_failure_message_is_stored_cut(ingest):
    message = fixture("zuul-periodic-failure.json")
    message["buildset"]["builds"][0]["result"] = "x" * 5000
    post(ingest, ZUUL_URL, message)

    assert len(Incident.objects.get().result) == 255


def _zuul_without(*path):
    message = fixture("zuul-periodic-failure.json")
    target = message
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return message


def _zuul_with(value, *path):
    message = fixture("zuul-periodic-failure.json")
    target = message
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return message


ZUUL_BAD = {
    "list": [],
    "string": "text",
    "number": 17,
    "empty": {},
    "no-buildset": _zuul_without("buildset"),
    "no-tenant": _zuul_without("tenant"),
    "no-builds": _zuul_without("buildset", "builds"),
    "no-job-name": _zuul_without("buildset", "builds", 0, "job_name"),
    "no-uuid": _zuul_without("buildset", "builds", 0, "uuid"),
    "builds-string": _zuul_with("many", "buildset", "builds"),
    "build-string": _zuul_with(["x"], "buildset", "builds"),
    "end-time-text": _zuul_with("yesterday", "buildset", "builds", 0, "end_time"),
    "end-time-huge": _zuul_with(1e300, "buildset", "builds", 0, "end_time"),
    "voting-text": _zuul_with("no", "buildset", "builds", 0, "voting"),
    "action-number": _zuul_with(7, "action"),
    "nul-character": _zuul_with("a\x00b", "buildset", "builds", 0, "job_name"),
}


@pytest.mark.parametrize("body", ZUUL_BAD.values(), ids=ZUUL_BAD.keys())
def test_zuul_bad_shapes_are_400_in_the_error_shape(ingest, body):
    response = ingest.post(ZUUL_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert not Incident.objects.exists()


def test_zuul_without_project_anywhere_is_bad_payload():
    message = _zuul_without("project")
    del message["changes"]
    for build in message["buildset"]["builds"]:
        del build["change"]

    with pytest.raises(BadPayload, match="project"):
        zuul.parse_message(message)


@pytest.mark.parametrize("url", [ZUUL_URL, ALERTMANAGER_URL])
def test_malformed_json_is_400_malformed_json(ingest, url):
    response = ingest.post(url, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("url", [ZUUL_URL, ALERTMANAGER_URL])
def test_sources_need_an_ingest_token(token_client, url):
    assert APIClient().post(url, {}, format="json").status_code == 401
    assert token_client("read").post(url, {}, format="json").status_code == 403


# Alertmanager --------------------------------------------------------------------


def test_alertmanager_firing_opens_one_incident_per_alert_with_the_mapping(ingest):
    body = post(ingest, ALERTMANAGER_URL, fixture("alertmanager-firing.json"))

    assert [(i["created"], i["state"]) for i in body["incidents"]] == [(True, "open")] * 2
    first, second = Incident.objects.order_by("dedup_key")
    assert first.dedup_key == "alertmanager:a3f1c2d4e5b60718"
    assert (first.source, first.repo, first.job, first.subject) == (
        "alertmanager",
        "SovereignCloudStack/standards",
        "scs-check-gx-scs-main",
        "gx-scs",
    )
    assert first.summary == "Compliance check for gx-scs failing for 2h"
    assert first.workflow == "https://docs.example.org/runbooks/compliance"
    assert first.url.startswith("http://prometheus.example.org:9090/graph")
    assert first.labels["severity"] == "critical"
    assert first.first_seen == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert (second.job, second.subject, second.workflow) == ("scs-check-iaas", "regio-a", "")


def test_alertmanager_repeated_notification_of_a_firing_alert_counts_once(ingest):
    post(ingest, ALERTMANAGER_URL, fixture("alertmanager-firing.json"))
    again = post(ingest, ALERTMANAGER_URL, fixture("alertmanager-firing.json"))

    assert [(i["created"], i["occurrences"]) for i in again["incidents"]] == [(False, 1)] * 2


def test_alertmanager_resolved_resolves_only_its_alert(ingest):
    post(ingest, ALERTMANAGER_URL, fixture("alertmanager-firing.json"))
    body = post(ingest, ALERTMANAGER_URL, fixture("alertmanager-resolved.json"))

    assert [i["state"] for i in body["incidents"]] == ["resolved"]
    states = dict(Incident.objects.values_list("dedup_key", "state"))
    assert states == {
        "alertmanager:a3f1c2d4e5b60718": "resolved",
        "alertmanager:b4e2d3f5a6c71829": "open",
    }


@pytest.mark.parametrize(
    ("labels", "annotations", "repo", "summary"),
    [
        ({"alertname": "A", "job": "node"}, {"description": "disk full"}, "node", "disk full"),
        ({"alertname": "A"}, {}, "A", "A"),
        (
            {"alertname": "A", "repo": "org/r", "job": "j"},
            {"summary": "s", "description": "d"},
            "org/r",
            "s",
        ),
    ],
)
def test_alertmanager_repo_and_summary_fall_back(labels, annotations, repo, summary):
    webhook = fixture("alertmanager-firing.json")
    webhook["alerts"] = [{**webhook["alerts"][0], "labels": labels, "annotations": annotations}]

    (report,) = alertmanager.parse(webhook)
    assert (report.repo, report.summary, report.job) == (repo, summary, labels.get("job", ""))


def _alertmanager(**changes):
    webhook = fixture("alertmanager-firing.json")
    alert = changes.pop("alert", {})
    webhook["alerts"][0].update(alert)
    webhook.update(changes)
    return {key: value for key, value in webhook.items() if value is not ...}


ALERTMANAGER_BAD = {
    "version-3": _alertmanager(version="3"),
    "no-version": _alertmanager(version=...),
    "no-alerts": _alertmanager(alerts=...),
    "alerts-object": _alertmanager(alerts={"a": 1}),
    "alert-string": _alertmanager(alerts=["x"]),
    "status-pending": _alertmanager(alert={"status": "pending"}),
    "no-fingerprint": _alertmanager(alert={"fingerprint": None}),
    "labels-string": _alertmanager(alert={"labels": "x"}),
    "no-repo-job-alertname": _alertmanager(alert={"labels": {}}),
    "starts-at-text": _alertmanager(alert={"startsAt": "yesterday"}),
    "list": [],
    "string": "x",
}


@pytest.mark.parametrize("body", ALERTMANAGER_BAD.values(), ids=ALERTMANAGER_BAD.keys())
def test_alertmanager_bad_shapes_are_400(ingest, body):
    response = ingest.post(ALERTMANAGER_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


# GitHub --------------------------------------------------------------------------

SECRET = "fixture-webhook-secret"


def signatures() -> dict[str, str]:
    lines = (FIXTURES / "github-signatures.txt").read_text().splitlines()
    pairs = (line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


@pytest.fixture
def secret(settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET


def deliver(
    name_or_body,
    *,
    delivery="d-1",
    event="workflow_run",
    signature=None,
    content_type="application/json",
):
    raw = (FIXTURES / name_or_body).read_bytes() if isinstance(name_or_body, str) else name_or_body
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery}
    sig = signature if signature is not None else github.signature(SECRET, raw)
    if sig:
        headers["HTTP_X_HUB_SIGNATURE_256"] = sig
    return APIClient().post(GITHUB_URL, raw, content_type=content_type, **headers)


def test_github_documented_test_vector_verifies():
    vector = signatures()["vector"]
    assert github.signature("It's a Secret to Everybody", b"Hello, World!") == vector
    assert github.verify("It's a Secret to Everybody", b"Hello, World!", vector)
    assert not github.verify("It's a Secret to Everybody", b"Hello, World?", vector)


def test_github_fixture_signatures_match_ours():
    for name in ("github-workflow_run-failure.json", "github-workflow_run-success.json"):
        assert github.signature(SECRET, (FIXTURES / name).read_bytes()) == signatures()[name]


def test_github_signed_failure_opens_an_incident_without_a_token(secret):
    name = "github-workflow_run-failure.json"
    response = deliver(name, signature=signatures()[name])

    assert response.status_code == 202, response.content
    incident = Incident.objects.get(pk=response.json()["incidents"][0]["id"])
    assert incident.dedup_key == "github:SovereignCloudStack/standards:Check standards:main"
    assert (incident.source, incident.repo, incident.job, incident.branch, incident.result) == (
        "github",
        "SovereignCloudStack/standards",
        "Check standards",
        "main",
        "failure",
    )
    assert (
        incident.url == "https://github.com/SovereignCloudStack/standards/actions/runs/11872351234"
    )


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, "sha1=abc", "garbage", "sha256=é", ""])
def test_github_bad_or_missing_signature_is_401(secret, signature):
    response = deliver("github-workflow_run-failure.json", signature=signature or "")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Incident.objects.exists()


def test_github_signature_of_other_bytes_is_401(secret):
    raw = (FIXTURES / "github-workflow_run-failure.json").read_bytes()
    response = deliver(raw + b" ", signature=github.signature(SECRET, raw))

    assert response.status_code == 401


def test_github_without_a_configured_secret_is_401(settings):
    settings.GITHUB_WEBHOOK_SECRET = None
    response = deliver("github-workflow_run-failure.json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_github_redelivery_counts_once_a_new_run_attempt_counts_again(secret):
    deliver("github-workflow_run-failure.json", delivery="abc")
    again = deliver("github-workflow_run-failure.json", delivery="abc").json()
    assert [(i["created"], i["occurrences"]) for i in again["incidents"]] == [(False, 1)]

    rerun = deliver(_workflow_run(run={"run_attempt": 2}), delivery="def").json()
    assert rerun["incidents"][0]["occurrences"] == 2


def test_github_replayed_body_with_a_new_delivery_id_counts_once(secret):
    first = deliver("github-workflow_run-failure.json", delivery="abc").json()
    replay = deliver("github-workflow_run-failure.json", delivery="forged-1").json()

    assert replay["incidents"] == [{**first["incidents"][0], "created": False}]
    assert Incident.objects.get().occurrences == 1


def test_github_replayed_failure_after_resolution_opens_nothing(secret):
    deliver("github-workflow_run-failure.json", delivery="1")
    deliver("github-workflow_run-success.json", delivery="2")
    incident = Incident.objects.get()
    assert incident.state == "resolved"

    replay = deliver("github-workflow_run-failure.json", delivery="forged-2")

    assert replay.status_code == 202
    assert [(i["id"], i["created"], i["state"]) for i in replay.json()["incidents"]] == [
        (incident.pk, False, "resolved")
    ]
    assert Incident.objects.count() == 1


def test_github_replayed_old_success_does_not_resolve_a_newer_failure(secret):
    old_success = _workflow_run(
        run={"id": 1, "conclusion": "success", "updated_at": "2026-11-26T02:00:00Z"}
    )
    deliver(old_success, delivery="1")
    newer_failure = _workflow_run(run={"id": 2, "updated_at": "2026-11-26T03:00:00Z"})
    deliver(newer_failure, delivery="2")

    replay = deliver(old_success, delivery="forged-3").json()

    assert replay == {"incidents": [], "ignored": 1}
    assert Incident.objects.get().state == "open"
    later_success = _workflow_run(
        run={"id": 3, "conclusion": "success", "updated_at": "2026-11-26T04:00:00Z"}
    )
    assert deliver(later_success, delivery="3").json()["incidents"][0]["state"] == "resolved"


def check_run(check_id, conclusion="failure"):
    return json.dumps(
        {
            "action": "completed",
            "check_run": {
                "id": check_id,
                "name": "build",
                "conclusion": conclusion,
                "completed_at": "2026-11-26T03:07:41Z",
                "check_suite": {"head_branch": "main"},
            },
            "repository": {"full_name": "o/r"},
        }
    ).encode()


def test_github_check_runs_are_deduplicated_by_their_id(secret):
    deliver(check_run(7), delivery="a", event="check_run")
    deliver(check_run(7), delivery="b", event="check_run")
    assert Incident.objects.get().occurrences == 1

    deliver(check_run(8), delivery="c", event="check_run")
    assert Incident.objects.get().occurrences == 2


def test_github_success_resolves(secret):
    deliver("github-workflow_run-failure.json", delivery="1")
    body = deliver("github-workflow_run-success.json", delivery="2").json()

    assert [i["state"] for i in body["incidents"]] == ["resolved"]
    assert Incident.objects.get().state == "resolved"


def _workflow_run(**changes) -> bytes:
    body = fixture("github-workflow_run-failure.json")
    body["workflow_run"].update(changes.pop("run", {}))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("event", "raw"),
    [
        ("ping", json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()),
        ("push", _workflow_run()),
        ("workflow_run", _workflow_run(action="requested")),
        ("workflow_run", _workflow_run(action="in_progress")),
        ("workflow_run", _workflow_run(run={"conclusion": "cancelled"})),
        ("workflow_run", _workflow_run(run={"conclusion": "skipped"})),
        ("workflow_run", _workflow_run(run={"conclusion": "neutral"})),
    ],
)
def test_github_other_events_and_conclusions_are_ignored(secret, event, raw):
    response = deliver(raw, event=event)

    assert response.status_code == 202
    assert response.json() == {"incidents": [], "ignored": 1}


def test_github_timed_out_check_run_is_a_failure(secret):
    check_run = {
        "action": "completed",
        "check_run": {
            "id": 4,
            "name": "build (3.12)",
            "status": "completed",
            "conclusion": "timed_out",
            "html_url": "https://github.com/o/r/runs/4",
            "completed_at": "2026-11-26T03:07:41Z",
            "output": {"title": "The job exceeded its time limit"},
            "check_suite": {"head_branch": "release"},
        },
        "repository": {"full_name": "o/r"},
    }
    response = deliver(json.dumps(check_run).encode(), event="check_run")

    incident = Incident.objects.get(pk=response.json()["incidents"][0]["id"])
    assert (incident.repo, incident.job, incident.branch, incident.result) == (
        "o/r",
        "build (3.12)",
        "release",
        "timed_out",
    )
    assert (
        incident.summary == "build (3.12) on release: timed_out — The job exceeded its time limit"
    )


def test_github_form_encoded_delivery_is_read(secret):
    raw = urlencode({"payload": _workflow_run().decode()}).encode()
    response = deliver(raw, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 202
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[]", "invalid"),
        (_workflow_run(repository=None), "invalid"),
        (_workflow_run(workflow_run="x"), "invalid"),
        (_workflow_run(run={"name": None}), "invalid"),
        (_workflow_run(run={"id": "1"}), "invalid"),
        (_workflow_run(run={"updated_at": "soon"}), "invalid"),
    ],
)
def test_github_signed_bad_bodies_are_400(secret, raw, code):
    response = deliver(raw)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code


def test_reports_keep_the_sender_payload_per_occurrence(ingest):
    message = fixture("zuul-periodic-failure.json")
    post(ingest, ZUUL_URL, copy.deepcopy(message))

    stored = Incident.objects.get().history.get().payload
    assert stored["build"] == message["buildset"]["builds"][0]
    assert stored["tenant"] == "scs"


def test_alertmanager_runbook_is_the_workflow_only_when_the_repo_has_none(ingest, repo):
    post(ingest, ALERTMANAGER_URL, fixture("alertmanager-firing.json"))

    workflows = set(Incident.objects.values_list("workflow", flat=True))
    assert workflows == {"https://docs.example.org/runbooks/standards"}
