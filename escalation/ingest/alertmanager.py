"""An Alertmanager webhook, version 4 (docs/api.md, "Ingestion").

One report per alert, one incident per alert ``fingerprint``: ``firing`` is a
failure, ``resolved`` recovers it. Alertmanager re-sends a firing alert at every
``repeat_interval``; fingerprint and ``startsAt`` together name the occurrence, so a
re-send counts once. Grafana Alerting's webhook (``"version": "1"``) has the same
alerts plus Grafana's links: it is read by ``escalation.ingest.grafana``, here too.
"""

from __future__ import annotations

from typing import Any

from escalation.ingest import BadPayload, Report, clean, grafana
from escalation.ingest.alerts import report

SOURCE = "alertmanager"


def parse(body: Any) -> list[Report]:
    if not isinstance(body, dict):
        raise BadPayload("Expected an Alertmanager webhook (a JSON object).")
    clean.no_nul(body)
    version = body.get("version")
    if version == grafana.VERSION:
        return grafana.parse(body)
    if version != "4":
        raise BadPayload(
            f"Only webhook version 4 (Alertmanager) or 1 (Grafana) is understood, not {version!r}.",
            {"version": ['Expected "4" (Alertmanager) or "1" (Grafana Alerting).']},
        )
    alerts = clean.require(body, "alerts", list)
    return [report(alert, f"alerts.{index}", SOURCE) for index, alert in enumerate(alerts)]
