"""Active windows seen from escalation/: outside them an ``oncall`` or ``repo_oncall``
target reaches nobody and the engine goes on to the next step at once; the coverage
report counts no gap there; the Matrix on-call answer says nobody."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from escalation import coverage, engine
from escalation.channels.matrix import topic
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Incident, Notification
from escalation.services import ingestion
from rotations import services, windows

pytestmark = pytest.mark.django_db

THURSDAY_NOON = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
THURSDAY_NIGHT = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
WEEKDAYS = windows.parse(
    [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]
)
REPORT = Report(
    source="zuul",
    status="failure",
    repo="SovereignCloudStack/standards",
    job="scs-check-gx-scs-main",
    summary="Build failed.",
)


@pytest.fixture
def day_rotation(people, repo):
    """The repo's rotation becomes alice and bob, weekly from Monday 2026-11-23 09:00
    Berlin, weekdays 09:00–17:00 only (alice's turn this week)."""
    spec = services.ScheduleSpec(
        [people["alice"], people["bob"]], 7, time(9), "Europe/Berlin", WEEKDAYS
    )
    rotation = services.create_rotation(
        slug="day", name="Day", team=repo.team, spec=spec, start=date(2026, 11, 23)
    )
    repo.rotation = rotation
    repo.save()
    return rotation


def pages():
    return list(Notification.objects.order_by("pk").values_list("kind", "address", "step"))


def page_at(at: datetime) -> Incident:
    with time_machine.travel(at, tick=False):
        incident = ingestion.accept([REPORT]).outcomes[0].incident
        engine.sweep()
    return Incident.objects.get(pk=incident.pk)


def test_inside_the_window_the_repo_rotation_is_paged(day_rotation):
    page_at(THURSDAY_NOON)
    assert pages() == [("page", "alice@example.org", 0)]


def test_outside_the_window_the_next_step_takes_over_at_once(day_rotation):
    incident = page_at(THURSDAY_NIGHT)
    assert pages() == [("page", "ops@example.org", 1)]  # step 2, without its 30 minutes
    details = list(incident.timeline.values_list("detail", flat=True))
    assert any("step 1 reaches nobody" in d for d in details)


def test_outside_the_window_the_next_target_of_the_step_is_still_paged(day_rotation, people):
    EscalationPolicy.objects.filter(slug="standard").update(
        steps=[
            {
                "wait_seconds": 0,
                "notify": [
                    {"type": "oncall", "rotation": "day", "role": "primary"},
                    {"type": "oncall", "rotation": "day", "role": "backup"},
                    {"type": "person", "person": "carol"},
                ],
            }
        ]
    )
    page_at(THURSDAY_NIGHT)
    assert pages() == [("page", "carol@example.org", 0)]


def test_an_override_outside_the_window_is_paged(day_rotation, people):
    services.create_override(
        rotation=day_rotation,
        person=people["carol"],
        start=THURSDAY_NIGHT - timedelta(hours=1),
        end=THURSDAY_NIGHT + timedelta(hours=1),
    )
    page_at(THURSDAY_NIGHT)
    assert pages() == [("page", "carol@example.org", 0)]


def test_time_outside_the_windows_is_no_coverage_gap(day_rotation):
    report = coverage.report(THURSDAY_NOON, 7)
    assert report["rotations_with_gaps"] == []


def test_coverage_gaps_are_only_the_windows_nobody_covers(day_rotation, people):
    with time_machine.travel(THURSDAY_NOON - timedelta(days=30), tick=False):
        for person in people.values():
            person.active = False
            person.save()
    report = coverage.report(THURSDAY_NOON, 2)  # Thursday noon to Saturday noon
    (found,) = report["rotations_with_gaps"]
    assert found["rotation"] == "day"
    assert found["gaps"] == [
        {"start": THURSDAY_NOON, "end": datetime(2026, 11, 26, 16, tzinfo=UTC)},
        {
            "start": datetime(2026, 11, 27, 8, tzinfo=UTC),
            "end": datetime(2026, 11, 27, 16, tzinfo=UTC),
        },
    ]


def test_the_matrix_oncall_answer_follows_the_windows(day_rotation):
    assert topic.describe([day_rotation], THURSDAY_NIGHT) == "nobody"
    inside = topic.describe([day_rotation], THURSDAY_NOON)
    assert inside.startswith("Alice (@alice:example.org) until Thu 26 Nov")
