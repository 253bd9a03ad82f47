"""Zuul's trouble is never a provider's compliance failure (issue 11, point 2).

The rules (escalation.classification) as pure functions, then the whole chain: the
Zuul reporter message through the API, the engine and a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from escalation import classification, delivery, engine
from escalation.channels.matrix import render
from escalation.ingest import Report, zuul
from escalation.models import Contact, EscalationPolicy, Incident, Notification, Repo, Route
from escalation.services import lifecycle
from tests.smtp import use_smtp_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of shared/fixtures
ZUUL_URL = "/api/v1/ingest/zuul/"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NOTE = "Zuul infrastructure failure (NODE_FAILURE) — not forwarded to GX ops"


def node_failure() -> dict:
    return json.loads((FIXTURES / "zuul-compliance-node-failure.json").read_text())


def compliance_failure(build_uuid: str = "a" * 32) -> dict:
    """The same compliance job, failed by the check itself."""
    message = node_failure()
    build = message["buildset"]["builds"][0]
    build.update(result="FAILURE", uuid=build_uuid)
    message["message"] = "Build failed.\n"
    return message


def report(result: str, category: str = "job") -> Report:
    return Report(
        source="zuul",
        status="failure",
        repo="SovereignCloudStack/zuul-config",
        job="scs-compliance-gx-scs",
        result=result,
        category=category,
    )


COMPLIANCE_ROUTE = Route(pk=3, match={"job": "scs-compliance-*"}, category="compliance")


# The rules -----------------------------------------------------------------------


def test_a_compliance_route_does_not_turn_a_node_failure_into_compliance():
    kind = classification.classify(report("NODE_FAILURE", "infrastructure"), COMPLIANCE_ROUTE)
    assert (kind.category, kind.reason, kind.forwards) == (
        "infrastructure",
        "result NODE_FAILURE",
        False,
    )


def test_a_route_category_applies_to_a_job_failure_and_says_which_route():
    kind = classification.classify(report("FAILURE"), COMPLIANCE_ROUTE)
    assert (kind.category, kind.reason, kind.forwards) == (
        "compliance",
        "route 3: job scs-compliance-*",
        True,
    )


def test_without_a_route_category_the_source_decides_and_names_the_result():
    plain = Route(pk=4, match={"repo": "*"})
    assert classification.classify(report("FAILURE"), plain) == classification.Classification(
        "job", "result FAILURE"
    )
    assert classification.classify(report("FAILURE"), None).reason == "result FAILURE"


def test_reason_describes_every_key_and_label_of_the_match():
    route = Route(pk=7, match={"job": "*-gx-scs-*", "labels": {"cloud": "gx-*"}}, category="c")
    assert classification.classify(report("FAILURE"), route).reason == (
        "route 7: job *-gx-scs-*, label cloud=gx-*"
    )
    assert classification.classify(report("FAILURE"), Route(pk=8, category="c")).reason == (
        "route 8: any failure"
    )


def test_note_says_what_was_not_forwarded_to_whom():
    assert classification.note("infrastructure", "zuul", "NODE_FAILURE", "GX ops") == NOTE
    assert classification.note("infrastructure", "zuul", "NODE_FAILURE", "") == ""
    assert classification.note("job", "github", "failure", "GX ops") == (
        "Not a compliance failure: job (failure) — not forwarded to GX ops"
    )


@pytest.mark.parametrize(
    "result",
    [
        "NODE_FAILURE",
        "RETRY_LIMIT",
        "POST_FAILURE",
        "TIMED_OUT",
        "DISK_FULL",
        "LOST",
        "EXCEPTION",
        "MERGE_CONFLICT",
        "MERGE_FAILURE",
        "CONFIG_ERROR",
    ],
)
def test_zuul_infrastructure_results_stay_infrastructure_under_a_compliance_route(result):
    message = node_failure()
    message["buildset"]["builds"][0]["result"] = result
    (parsed,) = [r for r in zuul.parse_message(message) if r.status == "failure"]
    kind = classification.classify(parsed, COMPLIANCE_ROUTE)
    assert (kind.category, kind.reason) == ("infrastructure", f"result {result}")


def test_a_buildset_that_never_ran_for_a_merge_conflict_is_infrastructure():
    message = node_failure()
    message["buildset"].update(result="MERGE_CONFLICT", builds=[])
    (parsed,) = zuul.parse_message(message)
    assert (parsed.job, parsed.category) == ("", "infrastructure")


# Through ingestion, the engine and real SMTP ---------------------------------------


@pytest.fixture
def smtp(settings):
    with use_smtp_server(settings) as server:
        yield server


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def zuul_repo(repo):
    """The Zuul configuration repo, owned by the same rotation (the Zuul operators)."""
    return Repo.objects.create(
        name="SovereignCloudStack/zuul-config", team=repo.team, rotation=repo.rotation
    )


@pytest.fixture
def route(db):
    provider = Contact.objects.create(slug="csp-gx", name="GX ops", email="noc@gx.example")
    route = Route.objects.create(order=1, match={"job": "openstack-scs-*"}, category="compliance")
    route.forward_to.add(provider)
    return route


@pytest.fixture
def ingest(token_client):
    client = token_client("ingest")

    def post(message: dict) -> Incident:
        response = client.post(ZUUL_URL, message, format="json")
        assert response.status_code == 202, response.content
        return Incident.objects.get(pk=response.json()["incidents"][0]["id"])

    return post


def work() -> None:
    """One worker tick: the sweep, then every notification due."""
    engine.sweep()
    due = Notification.objects.filter(
        status__in=["pending", "retrying"], next_attempt_at__lte=datetime.now(UTC)
    )
    for pk in due.values_list("pk", flat=True):
        delivery.deliver(pk)


def later(clock, seconds: float) -> None:
    clock.shift(timedelta(seconds=seconds))
    work()


def to(smtp, address: str) -> list:
    return [m for m in smtp.messages if address in m["To"]]


def text(message) -> str:
    return message.get_body(("plain",)).get_content()


def html(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.mark.django_db
def test_node_failure_of_a_compliance_job_pages_the_oncall_and_never_the_provider(
    smtp, clock, zuul_repo, route, ingest, people
):
    incident = ingest(node_failure())
    work()
    later(clock, 120)
    lifecycle.resolve(incident, people["carol"], "api", "nodepool is back")
    work()

    assert to(smtp, "noc@gx.example") == []
    assert not Notification.objects.filter(address="noc@gx.example").exists()
    incident.refresh_from_db()
    assert (incident.category, incident.category_reason) == (
        "infrastructure",
        "result NODE_FAILURE",
    )
    assert list(incident.forwarded_to.all()) == []
    pages = to(smtp, "carol@example.org")  # on call for the repo at NOW
    assert pages
    assert "Category:    infrastructure (result NODE_FAILURE)" in text(pages[0])
    assert NOTE in text(pages[0])
    assert NOTE in html(pages[0])
    assert incident.timeline.filter(kind="forwarded").count() == 0
    assert NOTE in incident.timeline.get(kind="created").detail


@pytest.mark.django_db
def test_compliance_failure_is_forwarded_once_and_on_resolution(
    smtp, clock, zuul_repo, route, ingest, people
):
    incident = ingest(compliance_failure())
    ingest(compliance_failure("b" * 32))  # a repeat is not forwarded again
    work()
    later(clock, 120)
    lifecycle.resolve(incident, people["carol"], "api", "flavor fixed")
    work()

    forwarded = to(smtp, "noc@gx.example")
    assert len(forwarded) == 2
    assert "A compliance check of your cloud failed" in text(forwarded[0])
    assert "resolved" in text(forwarded[1])
    incident.refresh_from_db()
    assert (incident.category, incident.category_reason) == (
        "compliance",
        f"route {route.pk}: job openstack-scs-*",
    )
    page = text(to(smtp, "carol@example.org")[0])
    assert f"compliance (route {route.pk}: job openstack-scs-*)" in page
    assert "not forwarded" not in page


@pytest.mark.django_db
def test_a_real_failure_after_a_node_failure_makes_it_compliance_and_forwards_it(
    smtp, clock, zuul_repo, route, ingest
):
    incident = ingest(node_failure())
    work()
    assert to(smtp, "noc@gx.example") == []
    assert ingest(compliance_failure()).pk == incident.pk  # the same open problem
    work()

    incident.refresh_from_db()
    assert (incident.category, incident.not_forwarded_to) == ("compliance", "")
    assert list(incident.forwarded_to.values_list("slug", flat=True)) == ["csp-gx"]
    assert len(to(smtp, "noc@gx.example")) == 1
    ingest(node_failure())  # Zuul's trouble again does not take it back
    incident.refresh_from_db()
    assert incident.category == "compliance"


@pytest.mark.django_db
def test_a_route_still_picks_policy_and_workflow_of_an_infrastructure_failure(
    zuul_repo, route, ingest, token_client
):
    quiet = EscalationPolicy.objects.create(
        slug="zuul-ops", name="Zuul operators", steps=[{"wait_seconds": 0, "notify": []}]
    )
    Route.objects.filter(pk=route.pk).update(policy=quiet, workflow="https://runbook/zuul")
    incident = ingest(node_failure())

    body = token_client("read").get(f"/api/v1/incidents/{incident.pk}/").json()
    assert (body["category"], body["category_reason"]) == ("infrastructure", "result NODE_FAILURE")
    assert (body["escalation"]["policy"], body["workflow"]) == (
        "Zuul operators",
        "https://runbook/zuul",
    )
    assert body["forwarded_to"] == []
    assert NOTE in body["timeline"][0]["detail"]
    listed = token_client("read").get("/api/v1/incidents/").json()["results"]
    assert listed[0]["category_reason"] == "result NODE_FAILURE"


@pytest.mark.django_db
def test_matrix_message_names_the_category_and_what_was_not_forwarded(zuul_repo, route, ingest):
    incident = ingest(node_failure())

    content = render.root(incident, None)
    line = f"Category: infrastructure (result NODE_FAILURE) · {NOTE}"
    assert line in content["body"].splitlines()
    assert NOTE in content["formatted_body"]


@pytest.mark.django_db
def test_a_forwarding_route_without_compliance_category_does_not_forward(
    smtp, zuul_repo, ingest, route, clock
):
    Route.objects.filter(pk=route.pk).update(category="")
    message = copy.deepcopy(compliance_failure())
    incident = ingest(message)
    work()
    incident.refresh_from_db()
    assert (incident.category, incident.not_forwarded_to) == ("job", "GX ops")
    assert to(smtp, "noc@gx.example") == []


@pytest.mark.django_db
def test_admin_incident_page_shows_reason_and_contacts_left_out(
    admin_client, zuul_repo, route, ingest
):
    incident = ingest(node_failure())

    page = admin_client.get(f"/admin/escalation/incident/{incident.pk}/change/").content.decode()
    assert re.search(r"Category reason:</label>\s*<div[^>]*>result NODE_FAILURE<", page)
    assert re.search(r"Not forwarded to:</label>\s*<div[^>]*>GX ops<", page)
