"""``/reports/``: login required, charts drawn as SVG with their tables, a team selector,
bad parameters shown as a message (400), never a 500."""

from __future__ import annotations

import re

import pytest

from tests.escalation.reports_history import seed

pytestmark = pytest.mark.django_db
RANGE = "/reports/?team=ops&from=2026-10-19&to=2026-11-01"


def test_reports_need_a_login(client):
    response = client.get("/reports/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_reports_draw_one_chart_per_number_with_a_table_beside_it(alice_client, world):
    seed(world.team, world.repo)
    html = alice_client.get(RANGE).content.decode()
    assert html.count('<svg class="chart"') == 5
    assert html.count('<table class="plain chart-table">') == 5
    # Incidents: 3 in W43 and 2 in W44, so two bars; a chart without style="" (CSP).
    incidents = html.split('id="chart-incidents"')[1].split("</svg>")[0]
    assert len(re.findall(r'<rect class="bar"', incidents)) == 2
    assert "<title>W43: 3</title>" in incidents
    assert "style=" not in html.split("<main")[1]
    assert '<td>2026-W44</td><td class="num">2</td>' in html
    assert "flaky-job" in html
    assert '<option value="ops" selected>' in html
    assert 'aria-current="page">Reports</a>' in html


def test_reports_show_bad_dates_as_a_message_not_a_server_error(alice_client, world):
    response = alice_client.get("/reports/?from=2026-02-30")
    assert response.status_code == 400
    assert "Not a date" in response.content.decode()
    assert response.content.decode().count('<svg class="chart"') == 5
