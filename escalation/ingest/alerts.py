"""One alert of an Alertmanager or Grafana Alerting webhook as a ``Report``: both
senders share the alert's shape (status, labels, annotations, startsAt, generatorURL,
fingerprint), docs/api.md "Alertmanager" and "Grafana Alerting"."""

from __future__ import annotations

from typing import Any

from escalation.ingest import INFRASTRUCTURE, JOB, BadPayload, Report, clean

STATUSES = {"firing": "failure", "resolved": "success"}


def report(alert: Any, where: str, source: str, scope: str = "") -> Report:
    """One alert of a webhook as a report of ``source``; ``scope`` (Grafana's
    organisation) goes into the dedup key before the fingerprint."""
    status = clean.require(alert, "status", str, where)
    if status not in STATUSES:
        raise BadPayload(
            f"{where}.status must be firing or resolved.",
            {f"{where}.status": ["Expected firing or resolved."]},
        )
    fingerprint = clean.require(alert, "fingerprint", str, where)
    labels = _strings(clean.require(alert, "labels", dict, where))
    annotations = _strings(alert.get("annotations") or {})
    starts_at = alert.get("startsAt")
    alertname = labels.get("alertname", "")
    repo = labels.get("repo") or labels.get("job") or alertname
    if not repo:
        raise BadPayload(
            f"{where} has none of the labels repo, job, alertname.",
            {f"{where}.labels": ["Needs repo, job or alertname."]},
        )
    category = labels.get("category", "")
    return Report(
        source=source,
        status="failure" if STATUSES[status] == "failure" else "success",
        repo=clean.text(repo),
        job=clean.text(labels.get("job")),
        pipeline=clean.text(labels.get("pipeline")),
        branch=clean.text(labels.get("branch")),
        subject=clean.text(labels.get("subject")),
        result=clean.text(alertname),
        summary=clean.summary(
            annotations.get("summary") or annotations.get("description") or alertname
        ),
        url=clean.url(alert.get("generatorURL")),
        dedup_key=clean.key(source, scope, fingerprint)
        if scope
        else clean.key(source, fingerprint),
        labels=labels,
        occurred_at=clean.iso_time(starts_at, f"{where}.startsAt"),
        # A rule may say what kind of failure it watches; anything else is the job's.
        category=category if category in (JOB, INFRASTRUCTURE) else JOB,
        category_reason=f"label category={category}" if category in (JOB, INFRASTRUCTURE) else "",
        workflow=clean.url(annotations.get("runbook_url")),
        delivery_key=clean.key(fingerprint, starts_at or "", limit=clean.DELIVERY_KEY),
        payload=alert,
    )


def _strings(mapping: Any) -> dict[str, str]:
    if not isinstance(mapping, dict):
        raise BadPayload("Labels and annotations must be objects.")
    return {str(name): "" if value is None else str(value) for name, value in mapping.items()}
