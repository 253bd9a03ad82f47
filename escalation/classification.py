"""What kind of failure an incident is, why, and whether a route's contacts hear of it.

The source decides first: a report its source calls ``infrastructure`` (Zuul's
``NODE_FAILURE``, ``RETRY_LIMIT``, ``MERGE_CONFLICT``…: Zuul could not run the job or
record its outcome, see ``escalation.ingest.zuul.INFRASTRUCTURE_RESULTS``) stays
``infrastructure`` whatever route matches it. A route's ``category`` applies to job
failures only (``route 3: job scs-compliance-*`` makes them ``compliance``). A route
may still match an infrastructure failure to pick its repo, policy or workflow.

Only ``compliance`` incidents are forwarded to a route's ``forward_to`` contacts (a
cloud provider hears of its own cloud failing a check, never of Zuul's trouble); any
other incident such a route matched says, in every channel, that it was not forwarded
and to whom (``note``).

Pure rules: nothing here reads or writes the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from escalation.ingest import INFRASTRUCTURE, JOB, Report

if TYPE_CHECKING:
    from escalation.models.routing import Route

COMPLIANCE = "compliance"
REASON_LENGTH = 255


@dataclass(frozen=True)
class Classification:
    category: str
    reason: str

    @property
    def forwards(self) -> bool:
        """Whether the route's ``forward_to`` contacts get the incident."""
        return self.category == COMPLIANCE


def classify(report: Report, route: Route | None) -> Classification:
    """The incident's category and a short reason ("result NODE_FAILURE",
    "route 3: job scs-compliance-*")."""
    if report.category == INFRASTRUCTURE:
        return Classification(INFRASTRUCTURE, _source_reason(report))
    if route is not None and route.category:
        return Classification(route.category, _short(f"route {route.pk}: {describe(route.match)}"))
    return Classification(report.category or JOB, _source_reason(report))


def describe(match: dict[str, Any]) -> str:
    """A route's match in a few words: ``job scs-compliance-*, label cloud=gx-*``."""
    parts: list[str] = []
    for key, pattern in match.items():
        if key == "labels" and isinstance(pattern, dict):
            parts.extend(f"label {name}={value}" for name, value in pattern.items())
        else:
            parts.append(f"{key} {pattern}")
    return ", ".join(parts) or "any failure"


def note(category: str, source: str, result: str, not_forwarded_to: str) -> str:
    """ "Zuul infrastructure failure (NODE_FAILURE) — not forwarded to gx-scs operations";
    "" when no contact was left out."""
    if not not_forwarded_to:
        return ""
    if category == INFRASTRUCTURE:
        what = "Zuul infrastructure failure" if source == "zuul" else "Infrastructure failure"
    else:
        what = f"Not a compliance failure: {category or JOB}"
    detail = f" ({result})" if result else ""
    return f"{what}{detail} — not forwarded to {not_forwarded_to}"


def _source_reason(report: Report) -> str:
    if report.category_reason:
        return _short(report.category_reason)
    if report.result:
        return _short(f"result {report.result}")
    return f"reported by {report.source}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_LENGTH else f"{text[: REASON_LENGTH - 1]}…"
