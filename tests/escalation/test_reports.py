"""Weekly on-call reports (docs/reports.md): the numbers of a seeded history, the API as
JSON and CSV, its scopes and bad parameters, and a query count independent of the
number of incidents."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation import reports
from tests.escalation.reports_history import at as utc
from tests.escalation.reports_history import incident, page, seed

pytestmark = pytest.mark.django_db
RANGE = {"team": "ops", "from": "2026-10-19", "to": "2026-11-01"}


def test_weekly_numbers_of_a_seeded_history_across_the_end_of_daylight_saving(repo):
    seed(repo.team, repo)
    body = reports.build(repo.team, reports.date(2026, 10, 19), reports.date(2026, 11, 1))
    assert body["weeks"] == [
        {
            "week": "2026-W43",
            "incidents": 3,
            "mtta_seconds": 1200.0,  # (10 min + 30 min) / 2, from the first page
            "mttr_seconds": 7800.0,  # (2 h + 4 h + 30 min) / 3
            "claimed_within_15m": 0.3333,  # 1 of the 3 paged incidents
            "pages_out_of_hours": 2,  # 18:30 in Berlin; Saturday in UTC
        },
        {
            "week": "2026-W44",
            "incidents": 2,
            "mtta_seconds": 300.0,
            "mttr_seconds": 300.0,
            "claimed_within_15m": 1.0,
            "pages_out_of_hours": 2,  # 07:30 in Berlin (CET now), 02:30 in New York
        },
    ]
    assert body["noisiest"][0] == {"repo": repo.name, "job": "scs-check", "incidents": 3}
    assert body["flakiest"] == [{"repo": repo.name, "job": "flaky-job", "recoveries": 2}]
    assert [r["repo"] for r in body["repos"]] == [repo.name]
    assert body["repos"][0]["incidents"] == 5
    assert body["repos"][0]["pages_out_of_hours"] == 4


def test_all_teams_include_other_teams_incidents(repo):
    seed(repo.team, repo)
    body = reports.build(None, reports.date(2026, 10, 19), reports.date(2026, 10, 25))
    assert body["weeks"][0]["incidents"] == 4
    assert body["weeks"][0]["pages_out_of_hours"] == 3  # 03:05 UTC for carol
    assert {r["repo"] for r in body["repos"]} == {repo.name, "Other/repo"}


@pytest.mark.parametrize(
    ("at", "zone", "expected"),
    [
        ("2026-10-23 06:30", "Europe/Berlin", False),  # 08:30 CEST, Friday
        ("2026-10-26 06:30", "Europe/Berlin", True),  # 07:30 CET, Monday
        ("2026-10-26 16:59", "Europe/Berlin", False),  # 17:59 CET
        ("2026-10-26 17:00", "Europe/Berlin", True),  # 18:00 CET: the day is over
        ("2026-10-31 12:00", "UTC", True),  # Saturday
        ("2026-10-26 12:00", "America/New_York", False),  # 08:00 EDT
        ("2026-11-02 12:00", "America/New_York", True),  # 07:00 EST, a week later
    ],
)
def test_out_of_hours_is_on_the_paged_persons_own_clock(at, zone, expected):
    # the parameter shadows the helper's name here, hence utc()
    assert reports.out_of_hours(utc(at), zone) is expected


def test_empty_weeks_are_listed_with_zero_incidents(repo):
    body = reports.build(repo.team, reports.date(2026, 1, 1), reports.date(2026, 3, 25))
    assert len(body["weeks"]) == 13
    assert body["weeks"][0] == {
        "week": "2026-W01",
        "incidents": 0,
        "mtta_seconds": None,
        "mttr_seconds": None,
        "claimed_within_15m": None,
        "pages_out_of_hours": 0,
    }


def _queries(repo, alice, how_many: int) -> int:
    from escalation.models import Incident

    Incident.objects.all().delete()
    for n in range(how_many):
        made = incident(repo, f"2026-10-2{n % 7} 1{n % 10}:00", job=f"job-{n % 13}")
        page(made, alice, f"2026-10-2{n % 7} 1{n % 10}:05")
        incident(repo, f"2026-10-2{n % 7} 0{n % 10}:00", resolved=f"2026-10-2{n % 7} 09:30")
    with CaptureQueriesContext(connection) as queries:
        body = reports.build(repo.team, reports.date(2026, 10, 19), reports.date(2026, 11, 1))
    assert sum(w["incidents"] for w in body["weeks"]) == 2 * how_many
    return len(queries)


def test_query_count_does_not_grow_with_the_number_of_incidents(repo):
    alice = seed(repo.team, repo)["alice"]
    assert _queries(repo, alice, 5) == _queries(repo, alice, 200) == 2


# The API -------------------------------------------------------------------------


def test_api_returns_the_weeks_as_the_contract_names_them(repo, token_client):
    seed(repo.team, repo)
    response = token_client("read").get("/api/v1/reports/", RANGE)
    assert response.status_code == 200
    body = response.json()
    assert (body["team"], body["from"], body["to"]) == ("ops", "2026-10-19", "2026-11-01")
    assert [w["week"] for w in body["weeks"]] == ["2026-W43", "2026-W44"]
    assert set(body["weeks"][0]) == set(reports.CSV_FIELDS)
    assert body["weeks"][1]["pages_out_of_hours"] == 2
    assert body["flakiest"][0]["job"] == "flaky-job"


def test_api_gives_csv_with_a_header_row_on_accept_text_csv(repo, token_client):
    seed(repo.team, repo)
    response = token_client("read").get("/api/v1/reports/", RANGE, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == reports.CSV_FIELDS
    assert rows[1] == ["2026-W43", "3", "1200.0", "7800.0", "0.3333", "2"]
    assert rows[2] == ["2026-W44", "2", "300.0", "300.0", "1.0", "2"]


def test_schema_declares_the_weeks_and_the_csv_answer(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    content = schema["paths"]["/api/v1/reports/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/csv"}
    week = schema["components"]["schemas"]["Week"]["properties"]
    assert set(week) == set(reports.CSV_FIELDS)


def test_api_defaults_to_the_last_twelve_weeks(token_client):
    body = token_client("read").get("/api/v1/reports/").json()
    assert len(body["weeks"]) == reports.WEEKS
    assert body["team"] is None


def test_api_needs_the_read_scope(token_client):
    assert token_client("ingest").get("/api/v1/reports/").status_code == 403
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/reports/").status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-01", "to": "2026-10-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({"team": "nobody"}, "team"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
    ],
)
def test_api_refuses_bad_parameters_with_400_in_the_error_shape(repo, token_client, params, field):
    response = token_client("read").get("/api/v1/reports/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"]
