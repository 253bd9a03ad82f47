"""Import → apply → who is on call, compared with Grafana OnCall's own ``final_shifts``
(recorded beside the API responses, window 2026-11-30 .. 2026-12-28).

For each imported schedule, our answer at an instant is the people on call in the
rotations of its highest level that has somebody, in the order the imported policy
pages them (a step reaching nobody moves on at once). The only schedule left out is
the ``ical`` one, which the import reports as not imported.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
import yaml
from django.core.management import call_command

from escalation import engine
from escalation.ingest import Report
from escalation.models import EscalationPolicy, Notification
from escalation.services import ingestion
from rotations import selectors
from rotations.models import Override, Rotation
from tests.escalation.grafana_api import TOKEN, grafana_api, recorded

RECORDED_AT = datetime(2026, 12, 1, 20, 19, tzinfo=UTC)
WINDOW = (datetime(2026, 11, 30, tzinfo=UTC), datetime(2026, 12, 28, tzinfo=UTC))
# Grafana schedule → (its final_shifts file, the imported policy that pages it)
SCHEDULES = {
    "SRE primary": ("final_shifts-sre-primary.json", "sre-critical"),
    "DB on-call (web)": ("final_shifts-db-on-call-web.json", "db-low-priority"),
}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def applied(db):
    with grafana_api() as api, time_machine.travel(RECORDED_AT, tick=False):
        out, err = StringIO(), StringIO()
        call_command(
            "import_grafana_oncall",
            "--url",
            api.url,
            "--token",
            TOKEN,
            "--apply",
            stdout=out,
            stderr=err,
        )
    return err.getvalue()


def levels(policy_slug: str) -> list[list[str]]:
    """The rotations the policy pages, step by step (steps of on-call targets only)."""
    steps = EscalationPolicy.objects.get(slug=policy_slug).steps
    return [
        [target["rotation"] for target in step["notify"]]
        for step in steps
        if all(target["type"] == "oncall" for target in step["notify"])
    ]


def ours(loaded: dict[str, selectors.LoadedRotation], order: list[list[str]], at: datetime):
    for level in order:
        found = {loaded[slug].oncall(at).primary for slug in level} - {None}
        if found:
            return {person.handle for person in found}
    return set()


def grafanas(final: list[dict], at: datetime) -> set[str]:
    return {
        row["user_username"]
        for row in final
        if _time(row["shift_start"]) <= at < _time(row["shift_end"])
    }


def instants(final: list[dict]) -> list[datetime]:
    """Every hour of the window, and every boundary of Grafana's shifts and a second before."""
    found = set()
    at = WINDOW[0]
    while at < WINDOW[1]:
        found.add(at)
        at += timedelta(hours=1)
    for row in final:
        for edge in (_time(row["shift_start"]), _time(row["shift_end"])):
            found |= {t for t in (edge, edge - timedelta(seconds=1)) if WINDOW[0] <= t < WINDOW[1]}
    return sorted(found)


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_on_call_matches_grafanas_final_shifts_at_every_hour_and_boundary(applied, schedule):
    file, policy = SCHEDULES[schedule]
    final = recorded(file)["results"]
    order = levels(policy)
    loaded = {
        item.rotation.slug: item
        for item in selectors.load(Rotation.objects.filter(slug__in=sum(order, [])))
    }
    checked = instants(final)
    assert len(checked) > 672
    differences = [
        (at.isoformat(), sorted(grafanas(final, at)), sorted(ours(loaded, order, at)))
        for at in checked
        if grafanas(final, at) != ours(loaded, order, at)
    ]
    assert differences == []


def test_the_levels_are_paged_higher_first_and_the_imported_rows_are_real(applied):
    assert levels("sre-critical") == [
        ["business-hours-weekdays"],
        ["sre-weekly-rotation", "sre-weekly-rotation-2"],
    ]
    business = Rotation.objects.get(slug="business-hours-weekdays").versions.get()
    assert business.active_windows == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    ]
    assert Override.objects.filter(person__handle="bob").count() == 3
    assert "Applied." in applied


def test_the_ical_schedule_is_reported_and_is_the_only_one_left_out(applied):
    assert 'schedule "DB external iCal": its shifts come from an external iCal' in applied
    assert Rotation.objects.count() == 4
    # Grafana did have people on call in it: the report is what says it is missing.
    assert recorded("final_shifts-db-external-ical.json")["count"] == 5


def test_applying_the_import_twice_changes_nothing(applied):
    with grafana_api() as api, time_machine.travel(RECORDED_AT, tick=False):
        err = StringIO()
        call_command(
            "import_grafana_oncall",
            "--url",
            api.url,
            "--token",
            TOKEN,
            "--apply",
            stdout=StringIO(),
            stderr=err,
        )
    assert err.getvalue().endswith("\nno changes\n")
    assert Rotation.objects.count() == 4


def test_the_order_of_levels_matters(applied):
    """Paging the lower level first would disagree with Grafana during business hours."""
    order = levels("sre-critical")
    loaded = {i.rotation.slug: i for i in selectors.load(Rotation.objects.all())}
    monday_noon = datetime(2026, 12, 7, 11, tzinfo=UTC)
    final = recorded("final_shifts-sre-primary.json")["results"]
    assert grafanas(final, monday_noon) == ours(loaded, order, monday_noon) == {"erin"}
    assert ours(loaded, order[::-1], monday_noon) == {"carol", "dave"}


def test_dry_run_with_apply_shows_the_plan_and_applies_nothing(db):
    with grafana_api() as api, time_machine.travel(RECORDED_AT, tick=False):
        err = StringIO()
        call_command(
            "import_grafana_oncall",
            "--url",
            api.url,
            "--token",
            TOKEN,
            "--apply",
            "--dry-run",
            stdout=StringIO(),
            stderr=err,
        )
    assert "+ rotation sre-weekly-rotation" in err.getvalue()
    assert "Dry run: nothing was applied." in err.getvalue()
    assert not Rotation.objects.exists()


def _paged(clock, seconds):
    clock.shift(timedelta(seconds=seconds))
    engine.sweep()
    return list(Notification.objects.order_by("pk").values_list("address", "step"))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Saturday: erin's level has nobody, so the weekly level is paged at once
        (
            datetime(2026, 12, 12, 12, tzinfo=UTC),
            [(300, [("carol@example.com", 2), ("dave@example.com", 2)])],
        ),
        # Monday noon: erin (level 1) first, the weekly level only after the next wait
        (
            datetime(2026, 12, 14, 11, tzinfo=UTC),
            [
                (300, [("erin@example.com", 1)]),
                (600, [("alice@example.com", 2), ("bob@example.com", 2)]),
            ],
        ),
    ],
)
def test_the_engine_pages_the_higher_level_first_and_the_lower_when_it_has_nobody(
    applied, at, expected
):
    report = Report(
        source="alertmanager",
        status="failure",
        repo="prod",
        job="HighLatency",
        summary="p99 over 2 s",
        labels={"severity": "critical"},
    )
    with time_machine.travel(at, tick=False) as clock:
        incident = ingestion.accept([report]).outcomes[0].incident
        assert incident.policy["slug"] == "sre-critical"
        first = _paged(clock, 0)
        assert first == [("alice@example.com", 0), ("bob@example.com", 0)]
        for seconds, pages in expected:
            before = len(_paged(clock, seconds - 1))
            now = _paged(clock, 1)
            assert sorted(now[before:]) == pages


def test_the_export_carries_the_windows_of_the_imported_rotations(applied):
    out = StringIO()
    call_command("oncall_config", "export", stdout=out)
    exported = {r["slug"]: r["versions"] for r in yaml.safe_load(out.getvalue())["rotations"]}
    assert exported["business-hours-weekdays"][0]["active_windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    ]
    assert "active_windows" not in exported["sre-weekly-rotation"][0]
