"""``/reports/``: the weekly on-call report of a team as server-drawn SVG charts, each
with its numbers in a table beside it (docs/reports.md)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from escalation import charts, reports
from escalation.report_views import report_for
from rotations.models import Team
from rotations.pages import WebRequest, page

CHARTS = [
    ("incidents", "Incidents a week", ""),
    ("mtta_minutes", "Mean time to acknowledge (minutes)", " min"),
    ("mttr_hours", "Mean time to resolve (hours)", " h"),
    ("claimed_within_15m_pct", "Claimed within 15 minutes (%)", " %"),
    ("pages_out_of_hours", "Pages out of hours", ""),
]


def _scaled(week: dict[str, Any]) -> dict[str, Any]:
    def div(value: float | None, by: float) -> float | None:
        return None if value is None else round(value / by, 1)

    return {
        **week,
        "label": week["week"].split("-")[1],
        "mtta_minutes": div(week["mtta_seconds"], 60),
        "mttr_hours": div(week["mttr_seconds"], 3600),
        "claimed_within_15m_pct": div(week["claimed_within_15m"], 0.01),
    }


@page
def report(request: WebRequest) -> HttpResponse:
    """Team selector and date range as GET parameters; bad ones show a message, not a 500."""
    error = ""
    try:
        body = report_for(request.GET)
    except reports.BadRange as problem:
        error, body = f"{problem.field}: {problem}", report_for({})
    except Team.DoesNotExist:
        error, body = "No team with this slug.", report_for({})
    weeks = [_scaled(w) for w in body["weeks"]]
    figures = [
        {
            "key": key,
            "title": title,
            "unit": unit.strip(),
            "svg": mark_safe(  # noqa: S308 - charts.bar_chart escapes every label
                charts.bar_chart(title, [(w["label"], w[key]) for w in weeks], unit)
            ),
            "rows": [(w["week"], w[key]) for w in weeks],
        }
        for key, title, unit in CHARTS
    ]
    context = {
        "report": body,
        "figures": figures,
        "teams": Team.objects.order_by("name"),
        "team": request.GET.get("team", ""),
        "error": error,
    }
    return render(request, "escalation/web/reports.html", context, status=400 if error else 200)
