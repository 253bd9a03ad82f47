"""Grafana OnCall's API data → (configuration document, report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml

from escalation.grafana import chains, integrations, people, schedules
from escalation.grafana.context import Context, Items
from escalation.grafana.report import Report


def build(source: dict[str, Items], now: datetime) -> tuple[dict[str, Any], Report]:
    """The document (top-level keys as ``oncall_config apply`` reads them) and the report;
    overrides that ended before ``now`` are left out (and reported)."""
    ctx = Context(source, now)
    document: dict[str, Any] = {
        "people": people.map_people(ctx),
        "teams": people.map_teams(ctx),
    }
    document["rotations"], document["overrides"] = schedules.map_schedules(ctx)
    document["policies"] = chains.map_chains(ctx)
    document["routes"] = integrations.map_integrations(ctx)
    people.report_rules(ctx)
    return document, ctx.report


def to_yaml(document: dict[str, Any], report: Report, url: str) -> str:
    """The document as YAML, the report on top as comments, for review before applying."""
    head = [
        f"# Imported from Grafana OnCall at {url}.",
        "# Review it, then: python manage.py oncall_config apply FILE",
    ]
    head += ["#", *(f"# {line}" if line else "#" for line in report.render().splitlines())]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n\n" + body
