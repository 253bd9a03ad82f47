"""Watches: reports that are expected and do not come (docs/watches.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from rest_framework.test import APIClient

from escalation import engine
from escalation.ingest import Report, github
from escalation.models import Incident, Notification, Occurrence, Watch
from escalation.services import ingestion, watches
from oncall.models import hash_secret

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 3, 10, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
URL = "/api/v1/watches/"
DAILY = {
    "slug": "periodic-daily",
    "name": "periodic-daily",
    "match": {"repo": "SovereignCloudStack/standards", "pipeline": "periodic-daily"},
    "every_seconds": 86400,
    "grace_seconds": 3 * 3600,
    "repo": "SovereignCloudStack/standards",
}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def create(client: APIClient, **changes: object) -> dict:
    response = client.post(URL, {**DAILY, **changes}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def report(status: str = "success", **fields: str) -> Report:
    values = {"repo": "SovereignCloudStack/standards", "pipeline": "periodic-daily", "job": "x"}
    return Report(source="zuul", status=status, **{**values, **fields})  # type: ignore[arg-type]


def sweep() -> None:
    watches.check()
    engine.sweep()


def token_of(ping_url: str) -> str:
    return ping_url.rsplit("/hb/", 1)[1]


# The API -----------------------------------------------------------------------


def test_admin_creates_a_watch_that_is_new_with_a_ping_url(clock, repo, admin_api):
    body = create(admin_api)
    assert body["state"] == "new"
    assert body["last_seen"] is None
    assert body["active"] is True
    assert body["repo"] == "SovereignCloudStack/standards"
    assert "/hb/w_" in body["ping_url"]
    watch = Watch.objects.get(slug="periodic-daily")
    assert watch.due_at == NOW + timedelta(hours=27)
    assert watch.ping_digest == hash_secret(token_of(body["ping_url"]))  # only its hash


def test_read_token_lists_watches_without_ping_url_and_cannot_write(
    clock, repo, admin_api, token_client
):
    create(admin_api)
    reader = token_client("read")
    listed = reader.get(URL).json()["results"]
    assert [w["slug"] for w in listed] == ["periodic-daily"]
    assert listed[0]["ping_url"] is None
    assert reader.get(f"{URL}periodic-daily/").json()["ping_url"] is None
    assert reader.post(URL, {**DAILY, "slug": "other"}, format="json").status_code == 403
    assert reader.patch(f"{URL}periodic-daily/", {"active": False}).status_code == 403
    assert reader.post(f"{URL}periodic-daily/ping/reset/").status_code == 403
    assert reader.delete(f"{URL}periodic-daily/").status_code == 403


def test_admin_updates_and_deletes_a_watch(clock, repo, admin_api):
    create(admin_api)
    response = admin_api.patch(f"{URL}periodic-daily/", {"every_seconds": 3600}, format="json")
    assert response.status_code == 200, response.content
    assert Watch.objects.get().due_at == NOW + timedelta(hours=4)
    assert admin_api.delete(f"{URL}periodic-daily/").status_code == 204
    assert not Watch.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"match": {"branch": "main"}},
        {"match": ["x"]},
        {"match": {"repo": 3}},
        {"every_seconds": 0},
        {"grace_seconds": -1},
        {"repo": "no/such-repo"},
    ],
)
def test_bad_watches_are_400_with_the_field_named(clock, repo, admin_api, changes):
    response = admin_api.post(URL, {**DAILY, **changes}, format="json")
    assert response.status_code == 400
    assert set(changes) <= set(response.json()["error"]["fields"])


# Ping URLs -----------------------------------------------------------------------


def test_ping_answers_ok_and_marks_the_watch_up(clock, repo, admin_api):
    token = token_of(create(admin_api)["ping_url"])
    clock.shift(timedelta(hours=1))
    response = APIClient().get(f"/hb/{token}")
    assert response.status_code == 200
    assert response.content == b"OK\n"
    assert APIClient().post(f"/hb/{token}").status_code == 200
    watch = Watch.objects.get()
    assert (watch.state, watch.last_seen) == ("up", NOW + timedelta(hours=1))
    assert watch.due_at == NOW + timedelta(hours=28)


def test_unknown_ping_token_is_404(db):
    assert APIClient().get("/hb/w_nope").status_code == 404
    assert APIClient().post("/hb/w_nope/fail").status_code == 404


def test_fail_ping_opens_an_incident_at_once_and_the_next_ping_resolves_it(clock, repo, admin_api):
    token = token_of(create(admin_api)["ping_url"])
    assert APIClient().post(f"/hb/{token}/fail").status_code == 200
    incident = Incident.objects.get()
    assert (incident.state, incident.category, incident.job) == (
        "open",
        "infrastructure",
        "periodic-daily",
    )
    assert incident.next_escalation_at == NOW  # escalates like any other
    assert APIClient().post(f"/hb/{token}/fail").status_code == 200
    assert Incident.objects.count() == 1
    APIClient().get(f"/hb/{token}")
    incident.refresh_from_db()
    assert (incident.state, incident.resolved_by) == ("resolved", None)


def test_reset_gives_a_new_ping_url_and_the_old_one_dies(clock, repo, admin_api):
    old = token_of(create(admin_api)["ping_url"])
    response = admin_api.post(f"{URL}periodic-daily/ping/reset/")
    assert response.status_code == 200
    new = token_of(response.json()["ping_url"])
    assert new != old
    assert APIClient().get(f"/hb/{old}").status_code == 404
    assert APIClient().get(f"/hb/{new}").status_code == 200
    assert admin_api.get(f"{URL}periodic-daily/").json()["ping_url"].endswith(new)


# Signs of life from every source ---------------------------------------------------


def test_matching_generic_event_success_or_failure_is_a_sign_of_life(
    clock, repo, admin_api, token_client
):
    create(admin_api)
    ingest = token_client("ingest")
    clock.shift(timedelta(hours=2))
    event = {
        "source": "cron",
        "status": "success",
        "repo": "SovereignCloudStack/standards",
        "job": "backup",
    }
    other = {**event, "pipeline": "check"}
    assert ingest.post("/api/v1/events/", other, format="json").status_code == 202
    assert Watch.objects.get().state == "new"
    event["pipeline"] = "periodic-daily"
    event.update(status="failure", summary="backup failed")
    assert ingest.post("/api/v1/events/", event, format="json").status_code == 202
    watch = Watch.objects.get()
    assert (watch.state, watch.last_seen) == ("up", NOW + timedelta(hours=2))


def test_matching_zuul_and_alertmanager_reports_are_signs_of_life(
    clock, repo, admin_api, token_client
):
    create(
        admin_api,
        slug="hourly",
        match={"repo": "SovereignCloudStack/*", "pipeline": "periodic-hourly"},
    )
    create(admin_api, slug="alerts", match={"source": "alertmanager", "job": "scs-check-*"})
    ingest = token_client("ingest")
    clock.shift(timedelta(minutes=5))
    zuul = json.loads((FIXTURES / "zuul-periodic-success.json").read_text())
    assert ingest.post("/api/v1/ingest/zuul/", zuul, format="json").status_code == 202
    states = dict(Watch.objects.values_list("slug", "last_seen"))
    assert states == {"hourly": NOW + timedelta(minutes=5), "alerts": None}
    clock.shift(timedelta(minutes=5))
    alert = json.loads((FIXTURES / "alertmanager-firing.json").read_text())
    assert ingest.post("/api/v1/ingest/alertmanager/", alert, format="json").status_code == 202
    assert Watch.objects.get(slug="alerts").last_seen == NOW + timedelta(minutes=10)


def test_a_signed_github_delivery_is_a_sign_of_life(clock, repo, admin_api, settings):
    settings.GITHUB_WEBHOOK_SECRET = "watch-secret"
    create(admin_api, slug="gh", match={"source": "github", "job": "Check standards"})
    clock.shift(timedelta(minutes=5))
    raw = (FIXTURES / "github-workflow_run-success.json").read_bytes()
    response = APIClient().post(
        "/api/v1/ingest/github/",
        raw,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="workflow_run",
        HTTP_X_GITHUB_DELIVERY="watch-1",
        HTTP_X_HUB_SIGNATURE_256=github.signature("watch-secret", raw),
    )
    assert response.status_code == 202, response.content
    assert Watch.objects.get(slug="gh").last_seen == NOW + timedelta(minutes=5)


def test_inactive_watch_ignores_reports_and_never_goes_overdue(clock, repo, admin_api):
    token = token_of(create(admin_api, active=False)["ping_url"])
    ingestion.accept([report()])
    assert APIClient().post(f"/hb/{token}/fail").status_code == 200  # paused: no incident
    assert Watch.objects.get().last_seen is None
    clock.shift(timedelta(days=3))
    sweep()
    assert not Incident.objects.exists()


# Overdue → one incident → resolved by the next report ------------------------------


def test_quiet_watch_opens_exactly_one_incident_paged_once(clock, repo, admin_api):
    create(admin_api)
    ingestion.accept([report()])
    clock.shift(timedelta(hours=27) - timedelta(seconds=1))
    sweep()
    assert not Incident.objects.exists()  # within every + grace
    clock.shift(timedelta(seconds=1))
    sweep()
    clock.shift(timedelta(seconds=5))
    sweep()
    incident = Incident.objects.get()
    assert incident.category == "infrastructure"
    assert incident.category_reason == "watch periodic-daily: no report"
    assert incident.job == "periodic-daily"
    assert incident.summary == (
        "periodic-daily of SovereignCloudStack/standards has not reported since "
        "2026-12-01 03:10 UTC (expected every 24 h)"
    )
    assert incident.repo_ref == repo and incident.owned
    assert incident.policy["slug"] == "standard"  # the repo's policy
    assert list(Notification.objects.values_list("kind", "address")) == [
        ("page", "carol@example.org")  # the repo's on-call person, once
    ]
    assert Watch.objects.get().state == "overdue"


def test_the_next_matching_report_resolves_it_with_nobody_as_resolver(clock, repo, admin_api):
    create(admin_api)
    ingestion.accept([report()])
    clock.shift(timedelta(hours=27))
    sweep()
    clock.shift(timedelta(hours=3))
    ingestion.accept([report(status="failure", job="y")])  # a failure is a sign of life too
    incident = Incident.objects.get(source="watch")
    assert (incident.state, incident.resolved_by) == ("resolved", None)
    assert incident.timeline.filter(detail="reported again after 30 h").exists()
    assert Watch.objects.get().state == "up"
    clock.shift(timedelta(hours=27))
    sweep()
    assert Incident.objects.filter(source="watch", state="open").count() == 1  # quiet again


def test_without_an_owner_the_repo_the_match_names_answers(clock, repo, admin_api):
    create(admin_api, repo=None)
    clock.shift(timedelta(hours=28))
    sweep()
    incident = Incident.objects.get()
    assert (incident.repo_ref, incident.owned, incident.policy["slug"]) == (repo, True, "standard")


def test_watch_policy_wins_over_the_repos(clock, repo, admin_api):
    from escalation.models import EscalationPolicy

    EscalationPolicy.objects.create(slug="quiet", name="Quiet", steps=[])
    create(admin_api, policy="quiet")
    clock.shift(timedelta(hours=28))
    sweep()
    incident = Incident.objects.get()
    assert incident.policy["slug"] == "quiet"
    assert "set up at 2026-12-01 03:10 UTC" in incident.summary


def test_the_sweep_query_is_served_by_the_partial_index(clock, repo, admin_api):
    from django.db import connection

    create(admin_api)
    query = watches.due_query(NOW)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask what it could use
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "watch_due" in plan, plan


# Suggestions ------------------------------------------------------------------------


def seed_history(repo_name: str, pipeline: str, every: timedelta, count: int) -> None:
    incident = Incident.objects.create(
        dedup_key=f"{repo_name}:{pipeline}", repo=repo_name, pipeline=pipeline, source="zuul"
    )
    Occurrence.objects.bulk_create(
        Occurrence(incident=incident, delivery_key=str(n), received_at=NOW - n * every)
        for n in range(count)
    )


def test_suggestions_propose_regular_pairs_not_yet_watched(clock, repo, admin_api):
    seed_history("SovereignCloudStack/standards", "periodic-daily", timedelta(hours=24), 10)
    seed_history("SovereignCloudStack/docs", "periodic-weekly", timedelta(days=7), 4)
    seed_history("SovereignCloudStack/docs", "check", timedelta(minutes=3), 3)  # too few
    body = admin_api.get(f"{URL}suggestions/").json()
    assert [(s["match"], s["every_seconds"], s["grace_seconds"], s["repo"]) for s in body] == [
        (
            {"repo": "SovereignCloudStack/docs", "pipeline": "periodic-weekly"},
            7 * 86400,
            7 * 86400 // 4,
            None,
        ),
        (
            {"repo": "SovereignCloudStack/standards", "pipeline": "periodic-daily"},
            86400,
            21600,
            "SovereignCloudStack/standards",
        ),
    ]
    create(admin_api)
    body = admin_api.get(f"{URL}suggestions/").json()
    assert [s["name"] for s in body] == ["periodic-weekly"]
    assert not Watch.objects.filter(slug="docs-periodic-weekly").exists()  # not saved


def test_irregular_reports_are_not_suggested(clock, db):
    incident = Incident.objects.create(dedup_key="k", repo="o/r", pipeline="gate", source="zuul")
    gaps = [0, 60, 7000, 7100, 90000, 200000]
    Occurrence.objects.bulk_create(
        Occurrence(incident=incident, delivery_key=str(g), received_at=NOW - timedelta(seconds=g))
        for g in gaps
    )
    assert watches.suggestions(NOW) == []


# The admin ---------------------------------------------------------------------------


def test_admin_registers_a_watch_with_a_ping_url_and_resets_it(clock, repo, admin_client):
    form = {
        "slug": "backup",
        "name": "Nightly backup",
        "match": '{"job": "backup"}',
        "every_seconds": "86400",
        "grace_seconds": "3600",
        "repo": str(repo.pk),
        "policy": "",
        "active": "on",
    }
    response = admin_client.post("/admin/escalation/watch/add/", form)
    assert response.status_code == 302, response.content
    watch = Watch.objects.get(slug="backup")
    assert watch.due_at == NOW + timedelta(hours=25)
    old = watches.current_token(watch)
    assert old is not None
    page = admin_client.get(f"/admin/escalation/watch/{watch.pk}/change/")
    assert f"/hb/{old}" in page.content.decode()
    admin_client.post(
        "/admin/escalation/watch/", {"action": "reset_ping", "_selected_action": [watch.pk]}
    )
    assert APIClient().get(f"/hb/{old}").status_code == 404
    assert watches.current_token(Watch.objects.get()) not in (None, old)


def test_admin_refuses_a_match_on_unknown_keys(clock, admin_client):
    form = {"slug": "x", "match": '{"branch": "main"}', "every_seconds": "60", "grace_seconds": "0"}
    response = admin_client.post("/admin/escalation/watch/add/", form)
    assert response.status_code == 200
    assert not Watch.objects.exists()


def test_admin_creates_suggested_watches_in_one_click(clock, repo, admin_client):
    seed_history("SovereignCloudStack/standards", "periodic-daily", timedelta(hours=24), 10)
    listing = admin_client.get("/admin/escalation/watch/")
    assert "/admin/escalation/watch/suggestions/" in listing.content.decode()
    page = admin_client.get("/admin/escalation/watch/suggestions/")
    assert page.status_code == 200
    assert "standards-periodic-daily" in page.content.decode()
    response = admin_client.post(
        "/admin/escalation/watch/suggestions/", {"slug": ["standards-periodic-daily"]}
    )
    assert response.status_code == 302
    watch = Watch.objects.get()
    assert (watch.slug, watch.every_seconds, watch.repo) == (
        "standards-periodic-daily",
        86400,
        repo,
    )
    assert watches.current_token(watch) is not None
    assert (
        "No suggestions"
        in admin_client.get("/admin/escalation/watch/suggestions/").content.decode()
    )
