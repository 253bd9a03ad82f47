"""Handoff notices: before and at each handoff, once, however many processes race."""

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from oncall.mail import MailError
from rotations import notices, services
from rotations.models import HandoffNotice, Person
from rotations.tasks import deliver_handoff_notice, send_handoff_notices
from tests.smtp import use_smtp_server

START = date(2026, 11, 2)  # 09:00 Europe/Berlin = 08:00 UTC
HANDOFF = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


@pytest.fixture
def rotation(db):
    alice = Person.objects.create(handle="alice", name="Alice", email="alice@example.org")
    bob = Person.objects.create(
        handle="bob", name="Bob", email="bob@example.org", timezone="Europe/Berlin"
    )
    spec = services.ScheduleSpec([alice, bob], 14, time(9), "Europe/Berlin")
    return services.create_rotation(slug="core", name="Core", team=None, spec=spec, start=START)


def run_beat(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        ids = notices.claim_notices(at)
        for notice_id in ids:
            notices.deliver(notice_id)
    return len(ids)


def test_incoming_person_hears_a_day_before_and_at_the_handoff(rotation):
    assert run_beat(HANDOFF - timedelta(hours=25)) == 0
    assert run_beat(HANDOFF - timedelta(hours=23)) == 1
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]
    assert "from Mon 16 Nov 09:00 CET" in mail.outbox[0].subject
    assert run_beat(HANDOFF - timedelta(hours=22)) == 0  # once per shift
    assert run_beat(HANDOFF + timedelta(minutes=1)) == 1
    assert mail.outbox[1].subject == "[oncall] You are now on call for Core"
    assert run_beat(HANDOFF + timedelta(minutes=2)) == 0
    assert HandoffNotice.objects.filter(status="sent").count() == 2


def test_stale_handoffs_are_not_announced_after_an_outage(rotation):
    assert run_beat(HANDOFF + timedelta(hours=2)) == 0
    assert mail.outbox == []


def test_override_of_the_same_person_is_no_handoff(rotation):
    bob = Person.objects.get(handle="bob")
    # bob extends into his own next shift: the override's start is not a new duty
    services.create_override(
        rotation=rotation, person=bob, start=HANDOFF, end=HANDOFF + timedelta(days=1)
    )
    run_beat(HANDOFF + timedelta(minutes=1))
    run_beat(HANDOFF + timedelta(days=1, minutes=1))
    subjects = [(m.to, m.subject) for m in mail.outbox]
    assert subjects == [(["bob@example.org"], "[oncall] You are now on call for Core")]


@pytest.mark.django_db(transaction=True)
def test_racing_beats_send_each_notice_once():
    alice = Person.objects.create(handle="alice", name="Alice", email="alice@example.org")
    bob = Person.objects.create(handle="bob", name="Bob", email="bob@example.org")
    spec = services.ScheduleSpec([alice, bob], 14, time(9), "Europe/Berlin")
    services.create_rotation(slug="core", name="Core", team=None, spec=spec, start=START)
    barrier = threading.Barrier(4)
    claimed: list[int] = []

    def beat():
        try:
            barrier.wait()
            claimed.extend(notices.claim_notices(HANDOFF - timedelta(hours=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 1
    assert HandoffNotice.objects.count() == 1


def test_beat_task_hands_notices_to_delivery(rotation, django_capture_on_commit_callbacks):
    with (
        time_machine.travel(HANDOFF - timedelta(hours=1), tick=False),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        assert send_handoff_notices() == 1
    assert len(callbacks) == 1
    assert HandoffNotice.objects.get().status == "pending"


@pytest.fixture
def smtp(settings):
    with use_smtp_server(settings) as server:
        yield server


def deliver_at(at: datetime) -> HandoffNotice:
    with time_machine.travel(at, tick=False):
        [notice_id] = notices.claim_notices(at)
        deliver_handoff_notice.apply(args=[notice_id])
    return HandoffNotice.objects.get(pk=notice_id)


def test_handoff_mail_goes_through_smtp_with_a_message_id_and_the_template(rotation, smtp):
    notice = deliver_at(HANDOFF - timedelta(hours=1))
    assert (notice.status, notice.attempts) == ("sent", 1)
    [message] = smtp.messages
    assert message["Message-ID"].startswith(f"<oncall.h{notice.pk}@")
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    assert "Hello Bob," in body
    assert "from Monday 16 November 2026 09:00 CET until Monday 30 November 2026" in body
    assert "/api/v1/rotations/core/shifts/" in body


def test_a_refused_handoff_mail_fails_at_once_and_a_server_outage_is_retried(rotation, smtp):
    smtp.refuse["bob@example.org"] = "550 5.1.1 No such user"
    notice = deliver_at(HANDOFF - timedelta(hours=1))
    assert (notice.status, notice.attempts) == ("failed", 1)
    assert "550" in notice.error
    del smtp.refuse["bob@example.org"]
    smtp.stop()
    with time_machine.travel(HANDOFF + timedelta(minutes=1), tick=False):
        [notice_id] = notices.claim_notices(HANDOFF + timedelta(minutes=1))
    with pytest.raises(MailError) as raised:
        notices.deliver(notice_id)
    assert not raised.value.permanent
    assert HandoffNotice.objects.get(pk=notice_id).status == "pending"
    smtp.start()
    assert notices.deliver(notice_id) is True
    notice = HandoffNotice.objects.get(pk=notice_id)
    assert (notice.status, notice.attempts) == ("sent", 2)
