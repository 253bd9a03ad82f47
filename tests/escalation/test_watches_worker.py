"""A watch going quiet in real processes: a Celery worker and beat on a Redis of
their own, mail to a real SMTP server (aiosmtpd), the test database in between."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification, Repo, Watch
from escalation.services import ingestion
from tests.escalation.test_reliability import Stack
from tests.processes import producer_on, redis_server
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TICK = 1.0  # ESCALATION_TICK_SECONDS of the Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, SmtpServer]]:
    with redis_server(tmp_path) as redis, SmtpServer() as smtp:
        processes = Stack(tmp_path, redis.port, smtp)
        try:
            with producer_on(processes.env["REDIS_URL"]):
                processes.worker("worker")
                yield processes, smtp
        finally:
            processes.stop()


def test_quiet_watch_opens_one_incident_paged_once_then_a_report_resolves_it(stack):
    processes, smtp = stack
    policy = EscalationPolicy.objects.create(
        slug="ops",
        name="Ops",
        steps=[{"wait_seconds": 0, "notify": [{"type": "email", "address": "ops@example.org"}]}],
    )
    repo = Repo.objects.create(name="org/backup", policy=policy)
    now = timezone.now()
    Watch.objects.create(
        slug="nightly",
        match={"repo": "org/backup", "job": "backup"},
        every_seconds=2,
        grace_seconds=1,
        repo=repo,
        created_at=now,
        due_at=now + timedelta(seconds=3),
    )
    processes.beat("beat")
    processes.wait(lambda: len(smtp.messages) >= 1, 30, "the page for the quiet watch")
    time.sleep(4 * TICK)  # more sweeps: a second incident or page would show now
    incident = Incident.objects.get()
    assert (incident.source, incident.category, incident.job) == (
        "watch",
        "infrastructure",
        "nightly",
    )
    assert incident.category_reason == "watch nightly: no report"
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["To"] == "ops@example.org"
    assert Notification.objects.filter(incident=incident).count() == 1

    report = Report(source="cron", status="success", repo="org/backup", job="backup")
    ingestion.accept([report])
    incident.refresh_from_db()
    assert (incident.state, incident.resolved_by) == ("resolved", None)
    assert Watch.objects.get().state == "up"
