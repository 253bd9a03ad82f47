"""Escalation end to end through a real SMTP server (aiosmtpd on loopback).

The engine and the delivery run synchronously here, tick by tick under a frozen
clock, exactly as the sweep and the delivery task run them in a worker; the
reliability tests (test_reliability.py) run them in real Celery workers.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import delivery, engine
from escalation.ingest import Report
from escalation.models import Contact, Incident, Notification, Route
from escalation.services import ingestion, lifecycle
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPORT = Report(
    source="zuul",
    status="failure",
    repo="SovereignCloudStack/standards",
    job="scs-check-gx-scs-main",
    pipeline="periodic-hourly",
    result="FAILURE",
    summary="Build failed.",
    url="https://zuul.example.org/t/scs/build/1",
)


@pytest.fixture
def smtp(settings):
    with use_smtp_server(settings) as server:
        yield server


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def work() -> None:
    """One tick of a worker: the sweep, then every notification due for sending."""
    engine.sweep()
    unsent = Notification.objects.filter(
        status__in=["pending", "retrying"], next_attempt_at__lte=datetime.now(UTC)
    )
    for pk in unsent.values_list("pk", flat=True):
        delivery.deliver(pk)


def later(clock, seconds: float) -> None:
    clock.shift(timedelta(seconds=seconds))
    work()


def to(smtp, address: str):
    return [m for m in smtp.messages if address in m["To"]]


def open_incident(report: Report = REPORT) -> Incident:
    return Incident.objects.get(pk=ingestion.accept([report]).outcomes[0].incident.pk)


def test_page_two_repings_step_two_then_claim_stops_everything(smtp, clock, repo, people):
    incident = open_incident()
    work()
    first = to(smtp, "carol@example.org")
    assert len(first) == 1
    assert "Build failed." in first[0].get_body(("plain",)).get_content()
    later(clock, 600)
    later(clock, 600)
    pages = to(smtp, "carol@example.org")
    assert len(pages) == 3
    # Re-pings thread under the first mail.
    root = pages[0]["Message-ID"]
    assert {p["Subject"] for p in pages} == {pages[0]["Subject"]}
    assert [p["In-Reply-To"] for p in pages[1:]] == [root, root]
    assert all(root in p["References"] for p in pages[1:])
    later(clock, 599)
    assert to(smtp, "ops@example.org") == []
    later(clock, 1)  # 1800 s after the first page: step 2, the mailing list
    assert len(to(smtp, "ops@example.org")) == 1
    lifecycle.claim(incident, people["carol"], "email")
    count = len(smtp.messages)
    for _ in range(5):
        later(clock, 600)
    assert len(smtp.messages) == count  # claimed: nothing more before the claim timeout
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds.count("notified") == 4 and kinds[-1] == "claimed"


def test_mute_holds_pages_and_unmute_resumes(smtp, clock, repo, people):
    incident = open_incident()
    work()
    lifecycle.mute(incident, people["carol"], "api", NOW + timedelta(hours=2))
    later(clock, 900)
    later(clock, 900)
    assert len(smtp.messages) == 1
    lifecycle.unmute(incident, people["carol"], "api")
    work()  # the re-ping that fell due during the mute goes at once
    assert len(to(smtp, "carol@example.org")) == 2


def test_claim_timeout_reminds_the_claimer_by_mail(smtp, clock, repo, people):
    incident = open_incident()
    work()
    lifecycle.claim(incident, people["bob"], "api")
    later(clock, 3600)
    reminders = to(smtp, "bob@example.org")
    assert len(reminders) == 1
    assert f"#{incident.pk}" in reminders[0]["Subject"]


def test_forwarding_reaches_the_provider_once_and_on_resolution(smtp, clock, repo, people):
    provider = Contact.objects.create(slug="csp-gx", name="GX", email="noc@gx.example")
    route = Route.objects.create(order=1, match={"job": "*gx-scs*"}, category="compliance")
    route.forward_to.add(provider)
    incident = open_incident()
    ingestion.accept([REPORT])  # a repeat is not forwarded again
    work()
    later(clock, 120)
    lifecycle.resolve(incident, people["carol"], "api", "flavor fixed")
    work()
    mails = to(smtp, "noc@gx.example")
    assert len(mails) == 2
    body = mails[0].get_body(("plain",)).get_content()
    assert "/act/" not in body  # no action links for outside parties
    assert "resolved" in mails[1]["Subject"].lower() or "resolved" in (
        mails[1].get_body(("plain",)).get_content().lower()
    )
    timeline = list(incident.timeline.values_list("kind", flat=True))
    assert timeline.count("forwarded") == 2


def test_smtp_outage_is_retried_while_the_incident_escalates(smtp, clock, repo):
    smtp.stop()
    incident = open_incident()
    work()
    page = Notification.objects.get(kind="page", step=0)
    assert page.status == "retrying" and page.attempts == 1
    for _ in range(3):  # step 2 is due although step 1's mail has not gone out
        later(clock, 600)
    assert Notification.objects.filter(step=1).exists()
    smtp.start()
    later(clock, 60)
    later(clock, 600)
    assert to(smtp, "carol@example.org") and to(smtp, "ops@example.org")
    assert not Notification.objects.exclude(status__in=["sent", "failed"]).exists()
    assert incident.timeline.filter(kind="notified").exists()


def test_permanent_refusal_is_recorded_and_escalation_proceeds(smtp, clock, repo):
    smtp.refuse["carol@example.org"] = "550 5.1.1 No such user"
    incident = open_incident()
    work()
    page = Notification.objects.get(kind="page", step=0)
    assert page.status == "failed"
    failed = incident.timeline.get(kind="notify_failed")
    assert "550" in failed.detail
    for _ in range(3):
        later(clock, 600)
    assert len(to(smtp, "ops@example.org")) == 1


def test_pages_beyond_the_burst_wait_for_one_digest(smtp, clock, repo, settings):
    settings.ONCALL_EMAIL_BURST, settings.ONCALL_EMAIL_BURST_WINDOW_SECONDS = 2, 60
    for job in ("a", "b", "c", "d"):
        ingestion.accept(
            [
                Report(
                    source="zuul",
                    status="failure",
                    repo=REPORT.repo,
                    job=job,
                    summary=f"{job} failed",
                )
            ]
        )
    work()
    assert len(to(smtp, "carol@example.org")) == 2  # the burst: at once
    later(clock, 60)  # the end of the storm window
    mails = to(smtp, "carol@example.org")
    assert len(mails) == 3
    listed = " ".join(m.get_body(("plain",)).get_content() for m in mails)
    assert all(listed.count(f"{job} failed") == 1 for job in "abcd")
    assert mails[2]["Subject"] == "[oncall] Digest: 2 incidents need you"
    assert Notification.objects.filter(status="sent").count() == 4
