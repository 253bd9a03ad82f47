"""manage.py import_grafana_oncall: the HTTP reader, the document and the report,
from the responses of a real Grafana OnCall OSS instance served on loopback."""

import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from escalation.grafana import chains, client, importer, integrations, people, schedules
from escalation.grafana.context import Context
from rotations import windows
from tests.escalation.grafana_api import TOKEN, grafana_api, recorded
from tests.processes import free_port

RECORDED_AT = datetime(2026, 12, 1, 20, 19, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api():
    with grafana_api() as server:
        yield server


@pytest.fixture(scope="module")
def imported(api):
    source = client.Client(api.url, TOKEN).fetch()
    return importer.build(source, RECORDED_AT)


def test_pages_are_followed_through_absolute_next_links_with_the_token(api):
    before = len(api.requests)
    items = client.Client(api.url, TOKEN, perpage=5).get_all("escalation_policies")
    assert items == recorded("escalation_policies.json")["results"]
    sent = api.requests[before:]
    assert [path for path, _ in sent] == [
        "/api/v1/escalation_policies/?perpage=5",
        "/api/v1/escalation_policies/?page=2&perpage=5",
        "/api/v1/escalation_policies/?page=3&perpage=5",
    ]
    assert all(auth == TOKEN for _, auth in sent)  # "Authorization: <token>", no Bearer


def test_next_links_naming_another_host_are_read_from_the_given_url_only():
    with grafana_api(prefix="/oncall", links_to_itself=False) as server:
        items = client.Client(server.url + "/oncall", TOKEN, perpage=5).get_all(
            "escalation_policies"
        )
    assert len(items) == 14
    assert [path for path, _ in server.requests] == [
        "/oncall/api/v1/escalation_policies/?perpage=5",
        "/oncall/api/v1/escalation_policies/?page=2&perpage=5",
        "/oncall/api/v1/escalation_policies/?page=3&perpage=5",
    ]


def test_a_url_ending_in_api_v1_reads_the_same(api):
    assert (
        client.Client(api.url + "/api/v1/", TOKEN).get_all("teams")
        == recorded("teams.json")["results"]
    )


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        (None, "wrong", "refused the token (HTTP 401"),
        ("{url}/grafana", TOKEN, "Not found (HTTP 404"),
        ("http://127.0.0.1:{port}", TOKEN, "Cannot reach http://127.0.0.1:"),
        ("ftp://oncall.example.com", TOKEN, "is not a Grafana OnCall URL"),
        (None, "", "No API token"),
    ],
)
def test_errors_are_one_clear_sentence(api, url, token, message):
    url = (url or "{url}").format(url=api.url, port=free_port())
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command(
            "import_grafana_oncall",
            "--url",
            url,
            "--token",
            token,
            "--timeout",
            "3",
            stdout=StringIO(),
            stderr=StringIO(),
        )


def test_a_refused_token_exits_1_without_a_traceback(api):
    done = subprocess.run(
        [sys.executable, "manage.py", "import_grafana_oncall", "--url", api.url, "--token", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "refused the token" in done.stderr
    assert "Traceback" not in done.stderr


def test_people_and_teams(imported):
    document, _ = imported
    assert document["people"][0] == {
        "handle": "alice",
        "name": "alice",
        "email": "alice@example.com",
        "timezone": "Europe/Berlin",
    }
    assert [(p["handle"], p["timezone"]) for p in document["people"]] == [
        ("alice", "Europe/Berlin"),
        ("bob", "Europe/London"),
        ("carol", "America/New_York"),
        ("dave", "Europe/Paris"),
        ("erin", "Asia/Kolkata"),
    ]
    assert document["teams"] == [
        {"slug": "sre", "name": "SRE", "members": ["alice", "bob", "carol", "dave"]},
        {"slug": "database", "name": "Database", "members": ["carol", "dave"]},
    ]


def test_rolling_groups_become_parallel_rotations_and_weekdays_become_windows(imported):
    rotations = {r["slug"]: r for r in imported[0]["rotations"]}
    assert set(rotations) == {
        "sre-weekly-rotation",
        "sre-weekly-rotation-2",
        "business-hours-weekdays",
        "db-daily-rotation",
    }
    weekly = {
        "effective_from": "2026-11-30",
        "shift_days": 7,
        "handoff_time": "09:00",
        "timezone": "Europe/Berlin",
        "offset": 0,
    }
    assert rotations["sre-weekly-rotation"]["versions"] == [
        {**weekly, "members": ["alice", "carol"]}
    ]
    assert rotations["sre-weekly-rotation-2"]["versions"] == [
        {**weekly, "members": ["bob", "dave"]}
    ]
    assert rotations["sre-weekly-rotation"]["team"] == "sre"
    assert rotations["business-hours-weekdays"]["versions"] == [
        {
            **weekly,
            "members": ["erin"],
            "active_windows": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
            ],
        }
    ]
    # time_zone null: the wall times are UTC
    assert rotations["db-daily-rotation"]["versions"] == [
        {
            "effective_from": "2026-11-30",
            "members": ["carol", "dave"],
            "shift_days": 1,
            "handoff_time": "07:00",
            "timezone": "UTC",
            "offset": 0,
        }
    ]


def test_overrides_cover_every_rotation_of_their_schedule(imported):
    overrides = imported[0]["overrides"]
    christmas = {
        "person": "bob",
        "start": "2026-12-24T07:00:00Z",
        "end": "2026-12-24T19:00:00Z",
        "reason": "Bob swaps in for Christmas Eve",
    }
    assert overrides == [
        {"rotation": "business-hours-weekdays", **christmas},
        {"rotation": "sre-weekly-rotation", **christmas},
        {"rotation": "sre-weekly-rotation-2", **christmas},
        {
            "rotation": "db-daily-rotation",
            "person": "dave",
            "start": "2026-12-10T17:00:00Z",
            "end": "2026-12-10T21:00:00Z",
            "reason": "Dave covers Carol (override)",
        },
    ]


def test_an_override_already_over_is_reported_not_imported(api):
    source = client.Client(api.url, TOKEN).fetch()
    document, report = importer.build(source, datetime(2026, 12, 11, tzinfo=UTC))
    assert [o["person"] for o in document["overrides"]] == ["bob", "bob", "bob"]
    assert any(
        e.subject == 'override "Dave covers Carol (override)"' and "history" in e.reason
        for e in report.of_kind("not_imported")
    )


def test_chains_become_policies_higher_level_first(imported):
    policies = {p["slug"]: p for p in imported[0]["policies"]}
    oncall = lambda slug: {"type": "oncall", "rotation": slug, "role": "primary"}  # noqa: E731
    person = lambda handle: {"type": "person", "person": handle}  # noqa: E731
    assert policies["sre-critical"] == {
        "slug": "sre-critical",
        "name": "SRE critical",
        "steps": [
            {"wait_seconds": 0, "notify": [person("alice"), person("bob")]},
            # level 1 (erin's business hours) first; level 0 at once when it has nobody
            {"wait_seconds": 300, "notify": [oncall("business-hours-weekdays")]},
            {
                "wait_seconds": 600,
                "notify": [oncall("sre-weekly-rotation"), oncall("sre-weekly-rotation-2")],
            },
            {"wait_seconds": 0, "notify": [person("carol"), person("dave")]},
        ],
        "repeat": 5,
        "claim_timeout_seconds": 0,
        "is_default": False,
        "important": True,
    }
    assert policies["db-low-priority"]["steps"] == [
        {"wait_seconds": 0, "notify": [oncall("db-daily-rotation")]},
        {"wait_seconds": 900, "notify": [{"type": "team", "team": "database"}]},
        {"wait_seconds": 0, "notify": [person("erin")]},
    ]
    assert policies["db-low-priority"]["important"] is False
    assert policies["db-low-priority"]["repeat"] == 0


def test_routes_keep_grafanas_order_per_integration(imported):
    routes = [(r["order"], r["match"], r["policy"]) for r in imported[0]["routes"]]
    assert routes == [
        (10, {"source": "alertmanager", "labels": {"severity": "critical"}}, "sre-critical"),
        (20, {"source": "alertmanager", "labels": {"severity": "page"}}, "sre-critical"),
        (30, {"source": "alertmanager", "labels": {"team": "database"}}, "db-low-priority"),
        (40, {"source": "alertmanager"}, "db-low-priority"),
        (50, {"source": "ci-failures-webhook", "pipeline": "release"}, "sre-critical"),
        (60, {"source": "ci-failures-webhook"}, "db-low-priority"),
        (70, {"source": "grafana"}, "sre-critical"),
    ]
    assert {r["action"] for r in imported[0]["routes"]} == {"page"}


def _reasons(report, kind):
    return {e.subject: e.reason for e in report.of_kind(kind)}


def test_the_report_names_everything_without_an_equivalent(imported):
    _, report = imported
    missing = _reasons(report, "not_imported")
    assert "external iCal" in missing['schedule "DB external iCal"']
    assert (
        "Notify status page" in missing['escalation chain "SRE critical", step 5 (trigger_webhook)']
    )
    assert (
        "08:00:00Z–18:00:00Z"
        in missing['escalation chain "DB low priority", step 3 (notify_if_time_from_to)']
    )
    assert "never resolves" in missing['escalation chain "DB low priority", step 6 (resolve)']
    assert "'db-.*'" in missing['integration "Grafana Alerting" (grafana_alerting), route 0']
    assert (
        "grouping_key, resolve_signal, source_link, web"
        in missing['integration "CI failures (webhook)" (webhook) templates']
    )
    alice = missing['notification rules of "alice" (default)']
    assert alice.startswith("mobile app → wait 300 s → SMS → wait 900 s → phone call.")
    assert missing['notification rules of "carol" (default)'].startswith(
        "e-mail → wait 1800 s → Slack."
    )
    assert 'notification rules of "carol" (important)' in missing
    partial = _reasons(report, "partial")
    assert (
        "round robin"
        in partial['escalation chain "SRE critical", step 4 (notify_person_next_each_time)']
    )
    assert "2 parallel rotations" in partial['shift "SRE weekly rotation"']
    assert (
        "after 600 s"
        in partial['escalation chain "SRE critical", step 2 (notify_on_call_from_schedule)']
    )
    todo = _reasons(report, "action")
    assert (
        "/api/v1/ingest/alertmanager/"
        in todo['integration "Prometheus Alertmanager (prod)" (alertmanager)']
    )
    assert "/api/v1/ingest/grafana/" in todo['integration "Grafana Alerting" (grafana_alerting)']
    assert (
        '/api/v1/events/ with "source": "ci-failures-webhook"'
        in todo['integration "CI failures (webhook)" (webhook)']
    )


def test_every_escalation_step_is_mapped_or_reported(imported):
    document, report = imported
    subjects = " ".join(e.subject for e in report.entries)
    mapped_kinds = {
        "wait",
        "notify_persons",
        "notify_on_call_from_schedule",
        "notify_team_members",
        "repeat_escalation",
    }
    for step in recorded("escalation_policies.json")["results"]:
        if step["type"] not in mapped_kinds:
            assert f"step {step['position']} ({step['type']})" in subjects, step


def test_the_yaml_reads_back_as_the_document_with_the_report_on_top(imported):
    document, report = imported
    text = importer.to_yaml(document, report, "https://grafana.example.com")
    assert yaml.safe_load(text) == document
    assert text.startswith("# Imported from Grafana OnCall at https://grafana.example.com.")
    assert '#   - schedule "DB external iCal"' in text


def test_dry_run_prints_report_and_yaml_and_writes_nothing(api, tmp_path):
    out, err = StringIO(), StringIO()
    target = tmp_path / "grafana.yaml"
    call_command(
        "import_grafana_oncall",
        "--url",
        api.url,
        "--token",
        TOKEN,
        "--dry-run",
        "--output",
        str(target),
        stdout=out,
        stderr=err,
    )
    assert not target.exists()
    assert "Not imported (no equivalent here): " in err.getvalue()
    assert yaml.safe_load(out.getvalue())["rotations"][0]["slug"] == "sre-weekly-rotation"


def test_output_writes_the_file_and_prints_the_report(api, tmp_path):
    out = StringIO()
    target = tmp_path / "grafana.yaml"
    call_command(
        "import_grafana_oncall",
        "--url",
        api.url,
        "--token",
        TOKEN,
        "--output",
        str(target),
        stdout=out,
        stderr=StringIO(),
    )
    assert yaml.safe_load(target.read_text())["policies"][0]["slug"] == "sre-critical"
    assert "To do by hand: 3" in out.getvalue()


# Shifts the recorded instance does not have, built the way its API writes them.


def shift(**fields):
    return {
        "id": "OX",
        "name": "x",
        "type": "rolling_users",
        "time_zone": "Europe/Berlin",
        "level": 0,
        "start": "2026-11-30T09:00:00",
        "rotation_start": "2026-11-30T09:00:00",
        "duration": 86400,
        "frequency": "daily",
        "interval": 1,
        "until": None,
        "by_day": None,
        "rolling_users": [["U1"], ["U2"]],
        **fields,
    }


def mapped(**fields):
    ctx = Context({}, RECORDED_AT)
    ctx.people.update({"U1": "ann", "U2": "ben", "U3": "cy"})
    return schedules.map_shift(ctx, shift(**fields), None), ctx.report


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"frequency": "hourly"}, "frequency hourly"),
        ({"frequency": "monthly"}, "frequency monthly"),
        ({"type": "single_event"}, "type single_event"),
        ({"interval": 2, "duration": 3600}, "2-daily pattern"),
        ({"duration": 90000}, "overlap"),
        ({"by_month": [1]}, "by_month"),
        ({"rolling_users": [["U1"], ["U9"]]}, "U9"),
        ({"rolling_users": [["U1"], ["U2"], ["U1"]]}, "appears once"),
    ],
)
def test_shifts_without_an_equivalent_are_skipped_with_a_reason(fields, reason):
    with pytest.raises(schedules.Skip, match=reason):
        mapped(**fields)


def test_a_daily_night_shift_becomes_an_overnight_window():
    (rotation,), _ = mapped(start="2026-11-30T22:00:00", duration=10 * 3600)
    assert rotation["versions"][0]["active_windows"] == [
        {
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": "22:00",
            "end": "08:00",
        }
    ]
    windows.parse(rotation["versions"][0]["active_windows"])  # valid as the API reads them


def test_a_weekly_shift_shorter_than_a_week_gets_windows_for_its_days():
    (rotation,), _ = mapped(frequency="weekly", duration=4 * 86400 + 8 * 3600)  # Mon 09 → Fri 17
    version = rotation["versions"][0]
    assert version["shift_days"] == 7
    assert version["active_windows"] == [
        {"days": ["mon"], "start": "09:00", "end": "00:00"},
        {"days": ["tue", "wed", "thu"], "start": "00:00", "end": "00:00"},
        {"days": ["fri"], "start": "00:00", "end": "17:00"},
    ]
    windows.parse(version["active_windows"])


def test_uneven_groups_fill_with_the_groups_first_user_and_say_so():
    rotations, report = mapped(
        rolling_users=[["U1", "U2"], ["U3"]], start_rotation_from_user_index=1
    )
    assert [r["versions"][0]["members"] for r in rotations] == [["ann", "cy"], ["ben", "cy"]]
    assert [r["versions"][0]["offset"] for r in rotations] == [1, 1]
    assert "repeat their first user" in report.entries[0].reason


def chain_of(*steps, schedules_by_id=None):
    ctx = Context(
        {
            "escalation_chains": [{"id": "F1", "name": "Chain"}],
            "escalation_policies": [
                {"position": i, "escalation_chain_id": "F1", **s} for i, s in enumerate(steps)
            ],
        },
        RECORDED_AT,
    )
    ctx.people.update({"U1": "ann", "U2": "ben"})
    ctx.schedules.update(schedules_by_id or {})
    ctx.schedule_names.update({k: k for k in schedules_by_id or {}})
    policies = chains.map_chains(ctx)
    return (policies[0] if policies else None), ctx.report


def test_a_schedule_with_levels_at_the_end_of_a_chain_pages_the_lower_level_at_once():
    policy, report = chain_of(
        {"type": "wait", "duration": 60},
        {
            "type": "notify_on_call_from_schedule",
            "notify_on_call_from_schedule": "S",
            "important": False,
        },
        schedules_by_id={"S": [["high"], ["low-a", "low-b"]]},
    )
    assert [(s["wait_seconds"], [t["rotation"] for t in s["notify"]]) for s in policy["steps"]] == [
        (60, ["high"]),
        (0, ["low-a", "low-b"]),
    ]
    assert "and also at once when the higher has somebody" in report.entries[0].reason


def test_a_wait_before_the_repeat_and_steps_after_it_are_reported():
    policy, report = chain_of(
        {"type": "notify_persons", "persons_to_notify": ["U1", "U9"], "important": True},
        {"type": "wait", "duration": 120},
        {"type": "repeat_escalation"},
        {"type": "notify_persons", "persons_to_notify": ["U2"], "important": True},
    )
    assert policy["steps"] == [{"wait_seconds": 0, "notify": [{"type": "person", "person": "ann"}]}]
    assert policy["repeat"] == 5 and policy["important"] is True
    reasons = " | ".join(f"{e.subject}: {e.reason}" for e in report.entries)
    assert "users U9 are unknown" in reasons
    assert "the 120 s wait before the repeat is not kept" in reasons
    assert 'escalation chain "Chain", steps after the repeat: Grafana never reaches them' in reasons


def test_a_chain_with_nothing_to_map_is_not_imported_and_neither_are_its_routes():
    policy, report = chain_of({"type": "resolve"}, {"type": "declare_incident"})
    assert policy is None
    assert [e.subject for e in report.of_kind("not_imported")] == [
        'escalation chain "Chain", step 0 (resolve)',
        'escalation chain "Chain", step 1 (declare_incident)',
        'escalation chain "Chain"',
    ]


def routes_of(integration_type, *routes):
    ctx = Context(
        {
            "integrations": [
                {
                    "id": "C1",
                    "name": "Sender",
                    "type": integration_type,
                    "link": "https://old.example.com/x/",
                }
            ],
            "routes": [
                {
                    "integration_id": "C1",
                    "escalation_chain_id": "F1",
                    "position": i,
                    "is_the_last_route": False,
                    **r,
                }
                for i, r in enumerate(routes)
            ],
        },
        RECORDED_AT,
    )
    ctx.policies["F1"] = "chain"
    return integrations.map_integrations(ctx), ctx.report


@pytest.mark.parametrize(
    ("routing_type", "text", "match"),
    [
        ("regex", '"severity": "critical"', [{"labels": {"severity": "critical"}}]),
        (
            "regex",
            '"env":"(prod|stage)"',
            [{"labels": {"env": "prod"}}, {"labels": {"env": "stage"}}],
        ),
        ("regex", '"env": "prod.*"', None),
        ("regex", "db-.*", None),
        (
            "jinja2",
            '{{ payload.groupLabels.service == "api*" }}',
            [{"labels": {"service": "api[*]"}}],
        ),
        ("jinja2", '{{ payload.commonLabels.a == "1" or payload.commonLabels.b == "2" }}', None),
        ("jinja2", '{{ "x" in payload.title }}', None),
    ],
)
def test_alertmanager_filters_map_only_when_their_meaning_is_clear(routing_type, text, match):
    routes, report = routes_of(
        "alertmanager", {"routing_type": routing_type, "routing_regex": text}
    )
    if match is None:
        assert routes == []
        assert "has no equivalent" in report.of_kind("not_imported")[0].reason
    else:
        assert [r["match"] for r in routes] == [{"source": "alertmanager", **m} for m in match]


def test_an_integration_type_without_an_endpoint_and_a_route_without_chain_are_reported():
    routes, report = routes_of("zabbix", {"routing_type": "regex", "routing_regex": "x"})
    assert routes == []
    assert "send the generic event" in report.of_kind("not_imported")[0].reason
    routes, report = routes_of(
        "alertmanager",
        {
            "routing_type": "regex",
            "routing_regex": None,
            "is_the_last_route": True,
            "escalation_chain_id": None,
        },
    )
    assert routes == []
    assert report.of_kind("not_imported")[0].reason == "it has no escalation chain"


def test_viewers_until_and_late_rotation_start_are_reported():
    ctx = Context({"users": [{"id": "U1", "username": "vic", "role": "viewer"}]}, RECORDED_AT)
    people.map_people(ctx)
    assert 'user "vic"' in [e.subject for e in ctx.report.of_kind("partial")]
    _, report = mapped(until="2027-01-01T00:00:00", rotation_start="2026-12-07T09:00:00")
    reasons = " ".join(e.reason for e in report.entries)
    assert "ends on 2027-01-01T00:00:00 in Grafana; here it goes on" in reasons
    assert "rotation_start 2026-12-07T09:00:00 differs from start" in reasons


def test_a_webhook_integration_gets_a_source_of_its_own_within_20_characters():
    ctx = Context(
        {
            "integrations": [
                {"id": "C1", "name": "Alertmanager", "type": "webhook"},
                {"id": "C2", "name": "A very long webhook integration name", "type": "webhook"},
            ],
            "routes": [
                {
                    "integration_id": c,
                    "escalation_chain_id": "F1",
                    "position": 0,
                    "is_the_last_route": True,
                }
                for c in ("C1", "C2")
            ],
        },
        RECORDED_AT,
    )
    ctx.policies["F1"] = "chain"
    routes = integrations.map_integrations(ctx)
    assert [r["match"]["source"] for r in routes] == ["alertmanager-2", "a-very-long-webhook"]


def test_chat_channels_of_routes_and_outgoing_webhooks_are_reported(imported):
    routes, report = routes_of(
        "alertmanager",
        {
            "routing_type": "regex",
            "routing_regex": None,
            "is_the_last_route": True,
            "slack": {"channel_id": "C123", "enabled": True},
            "telegram": {"id": None},
        },
    )
    assert len(routes) == 1
    assert "it posts to slack" in report.of_kind("not_imported")[0].reason
    missing = _reasons(imported[1], "not_imported")
    assert (
        "POST https://hooks.example.com/oncall/statuspage"
        in missing['outgoing webhook "Notify status page" (escalation)']
    )


def test_a_daily_rotation_on_weekdays_gets_windows_and_a_note_on_turns():
    (rotation,), report = mapped(by_day=["MO", "TU", "WE", "TH", "FR"], duration=8 * 3600)
    assert rotation["versions"][0]["shift_days"] == 1
    assert rotation["versions"][0]["active_windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    ]
    assert "every calendar day is a turn" in report.entries[0].reason
