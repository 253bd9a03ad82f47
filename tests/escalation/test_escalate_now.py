"""Escalate now (``lifecycle.escalate``): exactly one step at once, then the policy's own
timing from there; a claim and a mute end; two escalations racing fire one step."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections

from escalation import engine
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification
from escalation.services import ingestion, lifecycle
from escalation.services.lifecycle import Action
from rotations.models import Person

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPORT = Report(
    source="zuul",
    status="failure",
    repo="SovereignCloudStack/standards",
    job="scs-check-gx-scs-main",
    summary="Build failed.",
)
THREE_STEPS = [
    {
        "wait_seconds": 0,
        "notify": [{"type": "email", "address": "first@example.org"}],
        "repeat": 2,
        "repeat_every_seconds": 600,
    },
    {"wait_seconds": 1800, "notify": [{"type": "email", "address": "second@example.org"}]},
    {"wait_seconds": 900, "notify": [{"type": "email", "address": "third@example.org"}]},
]


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def three_steps(repo):
    EscalationPolicy.objects.filter(slug="standard").update(steps=THREE_STEPS)


def open_incident() -> Incident:
    incident = Incident.objects.get(pk=ingestion.accept([REPORT]).outcomes[0].incident.pk)
    engine.sweep()  # the first step pages
    incident.refresh_from_db()
    return incident


def pages():
    return list(Notification.objects.order_by("pk").values_list("kind", "address", "step", "ping"))


def test_escalate_pages_the_next_step_at_once_and_the_one_after_on_its_wait(
    clock, three_steps, people
):
    incident = open_incident()
    clock.shift(timedelta(seconds=300))  # the first re-ping would come at +600

    lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")

    assert pages() == [("page", "first@example.org", 0, 0), ("page", "second@example.org", 1, 0)]
    incident.refresh_from_db()
    at = NOW + timedelta(seconds=300)
    # Step 3 waits 900 s after step 2's first page, which was now; step 1's re-pings stop.
    assert (incident.escalation_step, incident.escalation_ping) == (2, 0)
    assert incident.next_escalation_at == at + timedelta(seconds=900)
    entry = incident.timeline.get(kind="escalated", actor__isnull=False)
    assert (entry.actor.handle, entry.channel, entry.detail) == (
        "alice",
        "api",
        "now to step 2 of 3",
    )
    clock.shift(timedelta(seconds=899))
    engine.sweep()
    assert len(pages()) == 2
    clock.shift(timedelta(seconds=1))
    engine.sweep()
    assert pages()[2:] == [("page", "third@example.org", 2, 0)]


def test_escalate_before_the_first_page_fires_the_first_step_once(clock, three_steps, people):
    incident = Incident.objects.get(pk=ingestion.accept([REPORT]).outcomes[0].incident.pk)

    lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")
    engine.sweep()

    assert pages() == [("page", "first@example.org", 0, 0)]


def test_escalate_past_the_last_step_is_invalid_state_and_changes_nothing(
    clock, three_steps, people
):
    incident = open_incident()
    lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")
    lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")
    assert [p[1] for p in pages()] == [f"{n}@example.org" for n in ("first", "second", "third")]

    with pytest.raises(lifecycle.InvalidState, match="no further step"):
        lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")
    assert len(pages()) == 3


def test_escalate_wraps_to_the_next_round_when_the_policy_repeats(clock, three_steps, people):
    EscalationPolicy.objects.filter(slug="standard").update(repeat=1)
    incident = open_incident()
    for _ in range(3):
        lifecycle.perform(incident, Action.ESCALATE, by=people["alice"], channel="api")
        incident.refresh_from_db()

    assert pages()[-1] == ("page", "first@example.org", 0, 0)
    assert Notification.objects.filter(round=1, step=0).count() == 1


def test_escalating_a_claimed_muted_incident_ends_the_claim_and_the_mute(
    clock, three_steps, people
):
    incident = open_incident()
    lifecycle.perform(incident, Action.CLAIM, by=people["bob"], channel="api")
    lifecycle.perform(
        incident, Action.MUTE, by=people["bob"], channel="api", until=NOW + timedelta(hours=1)
    )

    lifecycle.perform(incident, Action.ESCALATE, by=people["bob"], channel="matrix")

    incident.refresh_from_db()
    assert (incident.state, incident.claimed_by, incident.muted_until) == ("open", None, None)
    assert incident.remind_at is None
    assert pages()[-1] == ("page", "second@example.org", 1, 0)
    detail = incident.timeline.get(kind="escalated", actor__isnull=False).detail
    assert detail == "now to step 2 of 3; bob's claim ends; the mute ends"


def test_escalating_a_resolved_incident_or_one_without_policy_is_invalid_state(
    clock, three_steps, people
):
    incident = open_incident()
    lifecycle.perform(incident, Action.RESOLVE, by=people["bob"], channel="api")
    with pytest.raises(lifecycle.InvalidState, match="it is resolved"):
        lifecycle.perform(incident, Action.ESCALATE, by=people["bob"], channel="api")
    bare = Incident.objects.create(dedup_key="x", source="zuul", repo="r", policy=None)
    with pytest.raises(lifecycle.InvalidState, match="no escalation policy"):
        lifecycle.perform(bare, Action.ESCALATE, by=people["bob"], channel="api")


@pytest.mark.django_db(transaction=True)
def test_two_escalations_racing_from_the_same_step_fire_one_step(three_steps, people):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    with time_machine.travel(NOW, tick=False):
        incident = open_incident()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def escalate() -> None:
        try:
            mine = Incident.objects.get(pk=incident.pk)  # both see step 1 paged
            person = Person.objects.get(handle="alice")
            start.wait(timeout=10)
            lifecycle.perform(mine, Action.ESCALATE, by=person, channel="api")
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=escalate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [p[1] for p in pages()] == ["first@example.org", "second@example.org"]
    incident.refresh_from_db()
    assert incident.escalation_step == 2
    assert incident.timeline.filter(kind="escalated", actor__isnull=False).count() == 1
