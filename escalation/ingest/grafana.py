"""A Grafana Alerting webhook, ``"version": "1"`` (docs/api.md, "Grafana Alerting").

Grafana's contact point "Webhook" posts Alertmanager's alert shape plus its own
fields: ``orgId``, ``title``, ``state``, ``message`` at the top, and per alert
``values``, ``valueString``, ``silenceURL``, ``dashboardURL``, ``panelURL``,
``imageURL``. Accepted at ``/api/v1/ingest/grafana/`` and, since Grafana users point
it there too, at ``/api/v1/ingest/alertmanager/``: source ``grafana`` either way, so
the dedup key does not depend on the endpoint.

One report per alert, one incident per (``orgId``, ``fingerprint``): ``firing`` is a
failure, ``resolved`` recovers it; a repeat with the same ``startsAt`` counts once.
Links: ``url`` is the alert rule (``generatorURL``), ``log_url`` the panel (else the
dashboard), ``workflow`` the ``runbook_url`` annotation. The whole alert stays in the
occurrence's payload.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from escalation.ingest import BadPayload, Report, clean
from escalation.ingest.alerts import report

SOURCE = "grafana"
VERSION = "1"


def parse(body: Any) -> list[Report]:
    if not isinstance(body, dict):
        raise BadPayload("Expected a Grafana Alerting webhook (a JSON object).")
    clean.no_nul(body)
    version = body.get("version")
    if version != VERSION:
        raise BadPayload(
            f"Only Grafana Alerting's webhook version 1 is understood, not {version!r}.",
            {"version": [f'Expected "{VERSION}".']},
        )
    org = body.get("orgId", 0)
    if isinstance(org, bool) or not isinstance(org, int):
        raise BadPayload("orgId must be an integer.", {"orgId": ["Expected an integer."]})
    alerts = clean.require(body, "alerts", list)
    return [_report(alert, f"alerts.{index}", org) for index, alert in enumerate(alerts)]


def _report(alert: Any, where: str, org: int) -> Report:
    found = report(alert, where, SOURCE, scope=str(org))
    links = [alert.get(name) for name in ("panelURL", "dashboardURL")]
    return replace(found, log_url=next((u for u in map(clean.url, links) if u), ""))
