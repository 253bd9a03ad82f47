"""Replays of signed deliveries (GitHub): a captured body stays validly signed forever,
because GitHub's signature covers no time and no delivery id. What a replay must not do:

- count again: a failure's ``delivery_key`` is the run (``workflow_run.id`` and
  ``run_attempt``, or ``check_run.id``), the same in every copy, and the occurrence
  table refuses a key twice per incident (``ingestion``);
- open a new incident once the first was resolved: a failure whose ``delivery_key`` is
  recorded on an earlier incident of the same dedup key is answered with that incident;
- resolve a newer failure: a success that happened before the open incident's first
  failure (``first_seen`` is the failed run's time) is stale and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from escalation.ingest import Report
from escalation.models import Incident


@dataclass
class Screened:
    fresh: list[Report] = field(default_factory=list)
    #: Incidents a replayed failure belongs to (answered, not changed).
    seen: list[Incident] = field(default_factory=list)
    stale: int = 0


def screen(reports: list[Report]) -> Screened:
    """Split ``reports`` into what ingestion should store and what are replays."""
    result = Screened()
    for report in reports:
        key = report.key()
        if report.status == "success":
            newer = Incident.objects.filter(dedup_key=key).exclude(state=Incident.State.RESOLVED)
            if report.occurred_at and newer.filter(first_seen__gt=report.occurred_at).exists():
                result.stale += 1
                continue
        elif report.delivery_key:
            earlier = (
                Incident.objects.filter(
                    dedup_key=key,
                    state=Incident.State.RESOLVED,
                    history__delivery_key=report.delivery_key,
                )
                .order_by("-pk")
                .first()
            )
            if earlier is not None:
                result.seen.append(earlier)
                continue
        result.fresh.append(report)
    return result
