"""The sweep hands lost delivery tasks to workers again, backing off per row: when
workers are only behind (the broker still holds the task), a pending row is re-sent
a handful of times an hour, not at every tick."""

from datetime import UTC, datetime, timedelta

import pytest

from escalation import delivery
from escalation.models import Incident, Notification

pytestmark = pytest.mark.django_db

DUE = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
TICK = timedelta(seconds=5)


def pending(n: int = 0, **fields) -> Notification:
    incident = Incident.objects.create(
        dedup_key=f"zuul:job-{n}", source="zuul", repo="org/repo", job=f"job-{n}"
    )
    return Notification.objects.create(
        incident=incident,
        key=f"{incident.pk}:page:{n}",
        kind="page",
        channel="email",
        address="alice@example.org",
        next_attempt_at=DUE,
        **fields,
    )


def handed_out(row: Notification, minutes: int) -> list[timedelta]:
    """When, after it fell due, the sweep (one call per tick) handed ``row`` out again."""
    times = []
    for tick in range(minutes * 12 + 1):
        now = DUE + tick * TICK
        if row.pk in delivery.due_for_redelivery(now, TICK):
            times.append(now - DUE)
    return times


def test_a_row_still_pending_is_handed_out_again_with_doubling_waits():
    row = pending()
    times = handed_out(row, minutes=30)
    seconds = [int(t.total_seconds()) for t in times]
    # first after one tick of grace, as before; then 5, 10, 20 … s apart, at most 5 min
    assert seconds[:6] == [5, 10, 20, 40, 80, 160]
    gaps = [b - a for a, b in zip(seconds, seconds[1:], strict=False)]
    assert gaps[:5] == [5, 10, 20, 40, 80] and max(gaps) == 300
    assert len(seconds) == 11  # not 360: one every tick would flood the broker
    row.refresh_from_db()
    assert row.requeues == 11


def test_each_row_backs_off_on_its_own_and_sent_rows_are_never_handed_out():
    first = pending(1)
    handed_out(first, minutes=1)  # handed out 4 times already
    second = pending(2)
    now = DUE + timedelta(minutes=1, seconds=5)
    assert delivery.due_for_redelivery(now, TICK) == [second.pk]
    Notification.objects.filter(pk=second.pk).update(status="sent")
    assert second.pk not in delivery.due_for_redelivery(now + timedelta(hours=1), TICK)


def test_a_row_whose_worker_died_while_sending_is_handed_out_after_its_lease():
    row = pending(status="sending")  # lease (next_attempt_at) ended at DUE
    assert delivery.due_for_redelivery(DUE + TICK, TICK) == [row.pk]
    row.refresh_from_db()
    assert row.status == "retrying"
