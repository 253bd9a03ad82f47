"""The sweep works in batches: a fixed number of statements and wake-ups per batch,
whatever the number of incidents due; a replay never doubles a page."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation import delivery, engine
from escalation.models import Incident, Notification, TimelineEntry
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = {
    "slug": "two",
    "name": "Two steps",
    "repeat": 0,
    "claim_timeout_seconds": 0,
    "steps": [
        {"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]},
        {"wait_seconds": 600, "notify": [{"type": "email", "address": "lead@example.org"}]},
    ],
}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def due_incidents(count: int, start: int = 0) -> list[Incident]:
    return Incident.objects.bulk_create(
        Incident(
            dedup_key=f"batch:{n}",
            source="zuul",
            repo="org/batch",
            job=f"job-{n}",
            summary="Build failed.",
            policy=POLICY,
            escalation_started_at=NOW,
            next_escalation_at=NOW - timedelta(seconds=n),
        )
        for n in range(start, start + count)
    )


def swept(capture) -> tuple[int, int]:
    """(statements, wake-ups queued for the commit) of one sweep."""
    with capture(execute=False) as callbacks, CaptureQueriesContext(connection) as queries:
        assert engine.sweep()["advanced"] > 0
    return len(queries), len(callbacks)


def test_statements_and_wake_ups_do_not_grow_with_the_incidents_due(
    django_capture_on_commit_callbacks,
):
    due_incidents(3)
    few = swept(django_capture_on_commit_callbacks)
    due_incidents(40, start=3)  # within SQLite's 999 parameters per INSERT
    many = swept(django_capture_on_commit_callbacks)
    assert many == few
    assert few[1] == 2  # delivery of the pages, and the next step (all due at once)
    assert Notification.objects.count() == 43
    paging = TimelineEntry.objects.filter(detail="step 1: paging ops@example.org (email)")
    assert paging.count() == 43


def test_a_batch_writes_each_incidents_own_next_step(clock):
    first, second = due_incidents(2)
    Incident.objects.filter(pk=second.pk).update(escalation_step=1)
    engine.sweep()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.escalation_step, first.escalation_step_at) == (1, NOW)
    assert first.next_escalation_at == NOW + timedelta(seconds=600)
    assert (second.escalation_step, second.next_escalation_at) == (2, None)
    assert sorted(Notification.objects.values_list("incident_id", "address")) == [
        (first.pk, "ops@example.org"),
        (second.pk, "lead@example.org"),
    ]
    assert list(second.timeline.values_list("detail", flat=True)) == [
        "step 2: paging lead@example.org (email)",
        "escalation finished: nobody claimed the incident",
    ]


def test_a_replayed_batch_never_doubles_a_page(django_capture_on_commit_callbacks, clock):
    incidents = due_incidents(5)
    engine.sweep()
    clock.shift(timedelta(seconds=1))
    # A second worker that read the incidents before the first one's commit advances
    # them again from the same state: the rows exist, nothing new is queued for them.
    Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(
        escalation_step=0, next_escalation_at=NOW
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert engine.sweep()["advanced"] == 5
    assert Notification.objects.count() == 5
    assert len(callbacks) == 1  # the next step's wake-up only: no delivery
    assert Notification.objects.filter(created_at=NOW).count() == 5


def test_the_next_steps_wake_up_advances_only_incidents_still_due(clock):
    incidents = due_incidents(3)
    engine.sweep()
    clock.shift(timedelta(seconds=600))
    Incident.objects.filter(pk=incidents[0].pk).update(state=Incident.State.CLAIMED)
    assert engine.advance_many_task([i.pk for i in incidents]) == 2
    assert sorted(
        Notification.objects.filter(address="lead@example.org").values_list(
            "incident_id", flat=True
        )
    ) == sorted(i.pk for i in incidents[1:])


def test_one_delivery_task_sends_every_page_of_a_batch(settings):
    settings.DEFAULT_FROM_EMAIL = "oncall@example.org"
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    incidents = due_incidents(3)
    rows = [
        Notification.objects.create(
            incident=incident,
            key=f"{incident.pk}:page:{n}",
            kind="page",
            channel="email",
            address=f"p{n}@example.org",
        )
        for n, incident in enumerate(incidents)
    ]
    with use_smtp_server(settings) as smtp:
        # An id whose row is gone does not stop the others.
        delivery.deliver_many_task([rows[0].pk, 10**9, rows[1].pk, rows[2].pk])
        received = sorted(m["To"] for m in smtp.messages)
    assert received == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
