"""Storm protection of e-mail, tick by tick under a frozen clock, through a real SMTP
server: first pages go out at once; only pages beyond ``ONCALL_EMAIL_BURST`` per window
to one address wait for the window's end and go out as one digest.

The same behaviour in real Celery workers is in test_email_timing.py.
"""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import delivery
from escalation.models import Incident, Notification
from tests.processes import ROOT, child_env
from tests.smtp import use_smtp_server

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADDRESS = "alice@example.org"


@pytest.fixture
def smtp(settings):
    settings.ONCALL_EMAIL_BURST, settings.ONCALL_EMAIL_BURST_WINDOW_SECONDS = 5, 60
    with use_smtp_server(settings) as server:
        yield server


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def page(n: int, people, kind: str = "page") -> Notification:
    """A page row for a new incident ``n`` to Alice, as the engine writes it."""
    incident, _ = Incident.objects.get_or_create(
        dedup_key=f"zuul:job-{n}",
        defaults={"source": "zuul", "repo": "org/repo", "job": f"job-{n}", "result": "FAILURE"},
    )
    return Notification.objects.create(
        incident=incident,
        key=f"{incident.pk}:{kind}:{n}",
        kind=kind,
        channel="email",
        address=ADDRESS,
        person=people["alice"],
    )


def listed(message) -> list[int]:
    return [int(pk) for pk in str(message["X-Oncall-Incidents"]).split(",")]  # folded: ", "


def test_first_pages_of_five_incidents_one_second_apart_all_go_out_at_once(smtp, clock, people):
    for n in range(5):
        row = page(n, people)
        assert delivery.deliver(row.pk) is None  # nothing to wait for
        assert len(smtp.messages) == n + 1
        assert listed(smtp.messages[-1]) == [row.incident_id]
        clock.shift(timedelta(seconds=1))
    assert Notification.objects.filter(status="sent").count() == 5


def test_pages_beyond_the_burst_go_out_as_one_digest_at_the_window_end(smtp, clock, people):
    rows = [page(n, people) for n in range(8)]
    waits = [delivery.deliver(row.pk) for row in rows]
    assert waits[:5] == [None] * 5
    assert waits[5:] == [NOW + timedelta(seconds=60)] * 3
    assert len(smtp.messages) == 5

    clock.shift(timedelta(seconds=60))
    assert [delivery.deliver(row.pk) for row in rows[5:]] == [None] * 3

    assert len(smtp.messages) == 6
    digest = smtp.messages[-1]
    assert listed(digest) == [row.incident_id for row in rows[5:]]
    assert digest["Subject"] == "[oncall] Digest: 3 incidents need you"
    text = digest.get_body(("plain",)).get_content()
    assert all("/act/claim/" in text and f"job-{n}" in text for n in (5, 6, 7))
    assert text.count("/act/claim/") == 3
    sent = Notification.objects.filter(pk__in=[r.pk for r in rows[5:]])
    assert {n.external_id for n in sent} == {digest["Message-ID"]}


def test_the_digest_opens_the_next_window(smtp, clock, people):
    for n in range(6):
        delivery.deliver(page(n, people).pk)
    clock.shift(timedelta(seconds=60))
    delivery.deliver(page(6, people).pk)  # takes the held page along: the digest
    assert listed(smtp.messages[-1]) == sorted(
        Incident.objects.filter(job__in=["job-5", "job-6"]).values_list("pk", flat=True)
    )
    later = [delivery.deliver(page(n, people).pk) for n in range(7, 12)]
    assert later == [None] * 4 + [NOW + timedelta(seconds=120)]
    assert len(smtp.messages) == 5 + 1 + 4


def test_burst_zero_turns_batching_off(smtp, clock, people, settings):
    settings.ONCALL_EMAIL_BURST = 0
    waits = [delivery.deliver(page(n, people).pk) for n in range(12)]
    assert waits == [None] * 12
    assert [len(listed(m)) for m in smtp.messages] == [1] * 12


def test_a_held_page_of_an_incident_claimed_meanwhile_is_left_out_of_the_digest(
    smtp, clock, people
):
    rows = [page(n, people) for n in range(8)]
    for row in rows:
        delivery.deliver(row.pk)
    Incident.objects.filter(pk=rows[6].incident_id).update(state=Incident.State.CLAIMED)
    clock.shift(timedelta(seconds=60))
    delivery.deliver(rows[5].pk)
    assert listed(smtp.messages[-1]) == [rows[5].incident_id, rows[7].incident_id]
    rows[6].refresh_from_db()
    assert rows[6].status == "failed" and rows[6].error.startswith("cancelled")


def test_a_failed_digest_is_retried_as_the_same_message_and_counted_once(smtp, clock, people):
    rows = [page(n, people) for n in range(7)]
    for row in rows:
        delivery.deliver(row.pk)
    clock.shift(timedelta(seconds=60))
    smtp.stop()
    retry_at = delivery.deliver(rows[5].pk)
    assert retry_at is not None
    assert set(Notification.objects.filter(status="retrying").values_list("pk", flat=True)) == {
        rows[5].pk,
        rows[6].pk,
    }
    smtp.start()
    clock.move_to(retry_at)
    assert delivery.deliver(rows[6].pk) is None  # either row brings the whole message
    digest = smtp.messages[-1]
    assert listed(digest) == [rows[5].incident_id, rows[6].incident_id]
    assert digest["Message-ID"].startswith(f"<oncall.n{rows[5].pk}.")
    # The digest counted once in its window: four more pages still go out at once.
    assert [delivery.deliver(page(n, people).pk) for n in range(7, 11)] == [None] * 4


def test_a_negative_burst_stops_the_process_at_start_up(tmp_path):
    env = child_env(ONCALL_EMAIL_BURST="-1", ONCALL_DATA_DIR=str(tmp_path))
    argv = [sys.executable, "-c", "import django; django.setup()"]
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ONCALL_EMAIL_BURST='-1': must be at least 0" in result.stderr


def test_a_full_digest_keeps_its_lines_short_enough_for_smtp(smtp, clock, people):
    """A digest lists up to DIGEST_MAX incidents in ``X-Oncall-Incidents``: the header
    folds, so no line passes SMTP's 1,000-octet limit and the real server takes it."""
    rows = [page(n, people) for n in range(delivery.DIGEST_MAX + 5)]
    for row in rows[:5]:
        delivery.deliver(row.pk)
    delivery.deliver(rows[5].pk)  # held for the window's end
    clock.shift(timedelta(seconds=60))
    delivery.deliver(rows[5].pk)

    digest = smtp.messages[-1]
    assert len(listed(digest)) == delivery.DIGEST_MAX
    assert Notification.objects.filter(status="failed").count() == 0
    assert max(len(line) for line in digest.as_bytes().splitlines()) <= 998
