"""GET /metrics (docs/metrics.md): who may read it, and the numbers it derives from the
database at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from escalation.models import Incident, MatrixSync, Notification, TimelineEntry, Watch
from oncall import beat
from oncall.models import Heartbeat

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock():
    """Ages are exact: the scrape reads the same clock the rows were written with."""
    with time_machine.travel(NOW, tick=False):
        yield


def samples(client: APIClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def incident(repo, key: str, **fields) -> Incident:
    fields.setdefault("source", "zuul")
    fields.setdefault("category", "job")
    return Incident.objects.create(dedup_key=key, repo=repo.name, repo_ref=repo, **fields)


def test_metrics_need_a_read_token_and_answer_in_the_error_shape(token_client):
    anonymous = APIClient().get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    forbidden = token_client("ingest").get("/metrics")
    assert forbidden.status_code == 403
    assert "read" in forbidden.json()["error"]["message"]
    assert token_client("read").get("/metrics").status_code == 200
    assert token_client("admin").get("/metrics").status_code == 200


def test_metrics_are_open_without_a_token_only_when_made_public(settings):
    settings.ONCALL_METRICS_PUBLIC = True
    response = APIClient().get("/metrics")
    assert response.status_code == 200
    assert b"oncall_incidents" in response.content


def test_incident_gauges_count_open_claimed_and_muted_by_team_and_category(
    token_client, repo, people
):
    now = timezone.now()
    incident(repo, "a", first_seen=now - timedelta(minutes=30))
    incident(repo, "b", first_seen=now - timedelta(minutes=5))
    incident(repo, "c", state="claimed", claimed_by=people["alice"], claimed_at=now)
    incident(repo, "d", muted_until=now + timedelta(hours=1), first_seen=now)
    incident(repo, "e", state="resolved", resolved_at=now)
    got = samples(token_client("read"))
    labels = (("category", "job"), ("team", "ops"))

    def value(state: str) -> float:
        return got[("oncall_incidents", tuple(sorted((*labels, ("state", state)))))]

    assert (value("open"), value("claimed"), value("muted")) == (2, 1, 1)
    # The muted one is open too, but younger: the oldest unclaimed is "a", ≥ 30 min.
    assert got[("oncall_oldest_unclaimed_seconds", ())] == 1800


def test_sweep_lag_is_how_long_the_oldest_due_escalation_waits(token_client, repo):
    client = token_client("read")
    assert samples(client)[("oncall_sweep_lag_seconds", ())] == 0
    now = timezone.now()
    incident(repo, "due", next_escalation_at=now - timedelta(seconds=90))
    incident(repo, "later", next_escalation_at=now + timedelta(seconds=600))
    incident(
        repo,
        "muted",
        next_escalation_at=now - timedelta(hours=2),
        muted_until=now + timedelta(hours=1),
    )
    assert samples(client)[("oncall_sweep_lag_seconds", ())] == 90


def test_watches_overdue_counts_active_watches_whose_incident_is_open(token_client, repo):
    client = token_client("read")
    assert samples(client)[("oncall_watches_overdue", ())] == 0
    quiet = incident(repo, "watch:nightly")
    due = timezone.now() - timedelta(hours=1)
    Watch.objects.create(slug="nightly", every_seconds=60, due_at=due, incident=quiet)
    Watch.objects.create(slug="paused", every_seconds=60, due_at=due, incident=quiet, active=False)
    Watch.objects.create(slug="fine", every_seconds=60, due_at=timezone.now() + timedelta(hours=1))
    assert samples(client)[("oncall_watches_overdue", ())] == 1


def test_reports_total_counts_stored_failures_and_recoveries_per_source(token_client, repo):
    a = incident(repo, "a", occurrences=3)
    incident(repo, "b", occurrences=2, source="github")
    incident(repo, "c", occurrences=4)
    TimelineEntry.objects.create(incident=a, kind="resolved", channel="zuul")
    # Resolved by hand (web): not a report.
    TimelineEntry.objects.create(incident=a, kind="resolved", channel="web")
    got = samples(token_client("read"))
    assert got[("oncall_reports_total", (("result", "failure"), ("source", "zuul")))] == 7
    assert got[("oncall_reports_total", (("result", "failure"), ("source", "github")))] == 2
    assert got[("oncall_reports_total", (("result", "recovered"), ("source", "zuul")))] == 1
    assert ("oncall_reports_total", (("result", "recovered"), ("source", "github"))) not in got


def test_notifications_liveness_and_matrix_lag(token_client, repo):
    now = timezone.now()
    a = incident(repo, "a")
    for n, (channel, status) in enumerate(
        [("email", "sent"), ("email", "sent"), ("email", "failed"), ("matrix", "retrying")]
    ):
        Notification.objects.create(
            incident=a, key=f"k{n}", kind="page", channel=channel, address="x", status=status
        )
    Heartbeat.objects.create(name=beat.WORKER_HEARTBEAT, at=now - timedelta(seconds=300))
    MatrixSync.objects.create(user_id="@bot:example.org", since="s1")
    MatrixSync.objects.filter(user_id="@bot:example.org").update(
        updated_at=now - timedelta(seconds=50)
    )
    got = samples(token_client("read"))
    n = "oncall_notifications_total"
    assert got[(n, (("channel", "email"), ("status", "sent")))] == 2
    assert got[(n, (("channel", "email"), ("status", "failed")))] == 1
    assert got[(n, (("channel", "matrix"), ("status", "retrying")))] == 1
    assert got[(n, (("channel", "webhook"), ("status", "pending")))] == 0
    assert got[("oncall_heartbeat_age_seconds", (("process", "worker"),))] == 300
    assert ("oncall_heartbeat_age_seconds", (("process", "scheduler"),)) not in got
    assert got[("oncall_matrix_sync_age_seconds", (("user", "@bot:example.org"),))] == 50


def test_mtta_and_mttr_histograms_are_cumulative_buckets_from_sql(token_client, repo, people):
    now = timezone.now()
    for n, (to_claim, to_resolve) in enumerate([(30, 600), (120, 7200), (7200, None)]):
        seen = now - timedelta(hours=5)
        paged = seen + timedelta(seconds=10)
        one = incident(
            repo,
            f"i{n}",
            first_seen=seen,
            state="resolved" if to_resolve else "claimed",
            claimed_by=people["alice"],
            claimed_at=paged + timedelta(seconds=to_claim),
            resolved_at=seen + timedelta(seconds=to_resolve) if to_resolve else None,
        )
        Notification.objects.create(
            incident=one,
            key=f"p{n}",
            kind="page",
            channel="email",
            address="x",
            status="sent",
            sent_at=paged,
        )
    got = samples(token_client("read"))

    def bucket(name: str, le: str) -> float:
        return got[(f"{name}_bucket", (("le", le),))]

    assert [bucket("oncall_mtta_seconds", le) for le in ("60.0", "300.0", "3600.0", "+Inf")] == [
        1,
        2,
        2,
        3,
    ]
    assert got[("oncall_mtta_seconds_count", ())] == 3
    assert got[("oncall_mtta_seconds_sum", ())] == 30 + 120 + 7200
    assert [bucket("oncall_mttr_seconds", le) for le in ("900.0", "3600.0", "14400.0", "+Inf")] == [
        1,
        1,
        2,
        2,
    ]
    assert got[("oncall_mttr_seconds_sum", ())] == 600 + 7200


def test_a_scrape_costs_the_same_queries_however_many_incidents(token_client, repo):
    client = token_client("read")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            samples(client)
        return len(captured)

    incident(repo, "one", occurrences=1)
    samples(client)  # the token's first use writes its last_used_at
    few = queries()
    for n in range(30):
        a = incident(repo, f"many{n}", occurrences=2, category=f"c{n % 3}")
        Notification.objects.create(
            incident=a, key=f"k{n}", kind="page", channel="email", address="x"
        )
    assert queries() == few
    assert few <= 12
