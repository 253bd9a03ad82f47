"""The engine's decisions, tick by tick: which rows it writes and when it is due next.

Delivery is not exercised here (the tasks only run on commit, which these tests
never reach); tests/escalation/test_scenarios.py sends through real servers.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from escalation import engine
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification
from escalation.services import ingestion, lifecycle

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPORT = Report(
    source="zuul",
    status="failure",
    repo="SovereignCloudStack/standards",
    job="scs-check-gx-scs-main",
    summary="Build failed.",
)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def open_incident() -> Incident:
    outcome = ingestion.accept([REPORT]).outcomes[0]
    return Incident.objects.get(pk=outcome.incident.pk)


def tick(clock, seconds):
    clock.shift(timedelta(seconds=seconds))
    return engine.sweep()


def pages():
    return list(Notification.objects.order_by("pk").values_list("kind", "address", "step", "ping"))


def test_policy_pages_repings_then_next_step(clock, repo):
    incident = open_incident()
    assert incident.next_escalation_at == NOW
    engine.sweep()
    assert pages() == [("page", "carol@example.org", 0, 0)]
    tick(clock, 599)
    assert len(pages()) == 1  # not yet
    tick(clock, 1)
    tick(clock, 600)
    assert pages()[1:] == [
        ("repage", "carol@example.org", 0, 1),
        ("repage", "carol@example.org", 0, 2),
    ]
    tick(clock, 599)  # 1799 s after the first page: step 2 waits 1800
    assert len(pages()) == 3
    tick(clock, 1)
    assert pages()[3:] == [("page", "ops@example.org", 1, 0)]
    incident.refresh_from_db()
    assert incident.next_escalation_at is None  # the policy is done
    kinds = list(incident.timeline.values_list("detail", flat=True))
    assert kinds[-1] == "escalation finished: nobody claimed the incident"


def test_claim_stops_and_unclaim_resumes_where_it_stood(clock, repo, people):
    incident = open_incident()
    engine.sweep()
    lifecycle.claim(incident, people["alice"], "api")
    tick(clock, 3000)
    assert len(pages()) == 1
    lifecycle.unclaim(incident, people["alice"], "api")
    engine.sweep()
    assert pages()[1:] == [("repage", "carol@example.org", 0, 1)]


def test_mute_holds_the_escalation_until_it_ends(clock, repo, people):
    incident = open_incident()
    engine.sweep()
    lifecycle.mute(incident, people["alice"], "api", NOW + timedelta(hours=1))
    tick(clock, 1800)
    assert len(pages()) == 1
    tick(clock, 1800)  # the mute ran out: the re-ping that was due goes now
    assert pages()[1:] == [("repage", "carol@example.org", 0, 1)]


def test_a_second_sweep_never_pages_twice(clock, repo):
    open_incident()
    engine.sweep()
    engine.sweep()
    incident = Incident.objects.get()
    engine.advance(incident, NOW)  # even forced with stale state: the key is unique
    assert len(pages()) <= 2
    assert Notification.objects.filter(step=0, ping=0).count() == 1


def test_step_reaching_nobody_moves_on_at_once(clock, repo, people, policy):
    for person in people.values():
        person.active = False
        person.save()
    incident = open_incident()
    engine.sweep()
    assert pages() == [("page", "ops@example.org", 1, 0)]
    details = list(incident.timeline.values_list("detail", flat=True))
    assert any("step 1 reaches nobody" in d for d in details)


def test_policy_reaching_nobody_tells_the_team(clock, repo, people):
    EscalationPolicy.objects.filter(slug="standard").update(
        steps=[{"wait_seconds": 0, "notify": [{"type": "repo_oncall", "role": "primary"}]}]
    )
    team = repo.team
    team.email = "team@example.org"
    team.save()
    for person in people.values():
        person.active = False
        person.save()
    open_incident()
    engine.sweep()
    assert pages() == [("fallback", "team@example.org", 0, 0)]


def test_claim_timeout_reminds_the_claimer(clock, repo, people):
    incident = open_incident()
    engine.sweep()
    lifecycle.claim(incident, people["bob"], "api")
    tick(clock, 3599)
    assert Notification.objects.filter(kind="claim_reminder").count() == 0
    tick(clock, 1)
    assert list(
        Notification.objects.filter(kind="claim_reminder").values_list("address", flat=True)
    ) == ["bob@example.org"]
    tick(clock, 3600)
    assert Notification.objects.filter(kind="claim_reminder").count() == 2
    lifecycle.resolve(incident, people["bob"], "api")
    tick(clock, 7200)
    assert Notification.objects.filter(kind="claim_reminder").count() == 2


def test_policy_repeat_runs_the_list_again(clock, repo):
    EscalationPolicy.objects.filter(slug="standard").update(
        repeat=1,
        steps=[
            {"wait_seconds": 0, "notify": [{"type": "email", "address": "a@example.org"}]},
            {"wait_seconds": 300, "notify": [{"type": "email", "address": "b@example.org"}]},
        ],
    )
    open_incident()
    engine.sweep()
    for _ in range(4):
        tick(clock, 300)
    assert [(k, a) for k, a, _, _ in pages()] == [
        ("page", "a@example.org"),
        ("page", "b@example.org"),
        ("page", "a@example.org"),
        ("page", "b@example.org"),
    ]
    assert list(Notification.objects.values_list("round", flat=True)) == [0, 0, 1, 1]


def test_forwarding_goes_to_the_contact_once_and_on_resolution(clock, repo, people):
    from escalation.models import Contact, Route

    gx = Contact.objects.create(slug="csp-gx", name="GX", email="noc@gx.example")
    route = Route.objects.create(order=1, match={"job": "*gx-scs*"}, category="compliance")
    route.forward_to.add(gx)
    incident = open_incident()
    ingestion.accept([REPORT])
    lifecycle.resolve(incident, people["alice"], "api")
    forwards = Notification.objects.filter(address="noc@gx.example")
    assert list(forwards.values_list("kind", flat=True)) == ["forward", "forward_resolved"]
