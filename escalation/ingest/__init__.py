"""Failure reports from every source, normalised to ``Report`` before they are stored.

One module per source (generic, zuul, alertmanager, grafana, github) turns a delivery
into reports; ``escalation.services.ingestion.accept`` stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from escalation.ingest import clean
from escalation.ingest.errors import BadPayload

__all__ = ["INFRASTRUCTURE", "JOB", "BadPayload", "Report"]

INFRASTRUCTURE = "infrastructure"
JOB = "job"


@dataclass
class Report:
    source: str
    status: Literal["failure", "success"]
    repo: str
    job: str = ""
    pipeline: str = ""
    branch: str = ""
    subject: str = ""
    result: str = ""
    summary: str = ""
    url: str = ""
    log_url: str = ""
    dedup_key: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    occurred_at: datetime | None = None
    category: str = JOB
    category_reason: str = ""  # why the source chose the category; default "result X"
    voting: bool = True  # a non-voting failure pages only when a route says so
    workflow: str = ""  # the sender's runbook, used when neither route nor repo has one
    delivery_key: str = ""  # the same key counts once (a re-delivery); empty: always counts
    payload: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """The dedup key: given, else derived from source, repo, pipeline, job, branch, subject."""
        if self.dedup_key:
            return clean.key(self.dedup_key)
        return clean.key(self.source, self.repo, self.pipeline, self.job, self.branch, self.subject)

    def fields(self) -> dict[str, Any]:
        """The values routes and silences match against."""
        return {
            "source": self.source,
            "repo": self.repo,
            "pipeline": self.pipeline,
            "job": self.job,
            "branch": self.branch,
            "subject": self.subject,
            "result": self.result,
            "category": self.category,
            "labels": self.labels,
        }
