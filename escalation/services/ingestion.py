"""Storing failure reports: route, deduplicate, count, resolve on recovery.

Every report of a delivery is stored in one transaction before the API answers.
Repeats of an open incident only add an occurrence and bump ``occurrences`` and
``last_seen`` in the database (never read-modify-write), under the incident's row
lock, so concurrent deliveries never lose a count and a re-delivery (same
``delivery_key``) counts once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from escalation import changes, classification, forwarding
from escalation import routing_cache as routing
from escalation.ingest import INFRASTRUCTURE, Report
from escalation.models import (
    Incident,
    Occurrence,
    Route,
    TimelineEntry,
)
from escalation.services import lifecycle, watches

# Occurrences worth a timeline line: the first few, then each power of ten.
TIMELINE_OCCURRENCES = {2, 3, 4, 5, 10, 100, 1000, 10_000, 100_000, 1_000_000}


@dataclass
class Outcome:
    incident: Incident
    created: bool


@dataclass
class Accepted:
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "incidents": [
                {
                    "id": o.incident.pk,
                    "created": o.created,
                    "state": o.incident.state,
                    "occurrences": o.incident.occurrences,
                }
                for o in self.outcomes
            ],
            "ignored": self.ignored,
        }


@transaction.atomic
def accept(reports: list[Report], *, now: datetime | None = None) -> Accepted:
    """Store every report; the caller answers 2xx only after this returned."""
    now = now or timezone.now()
    config = routing.current()
    accepted = Accepted()
    watches.seen(reports, now)  # success or failure, routed or ignored: a sign of life
    for report in reports:
        route = config.route(report)
        if route is not None and route.action == Route.Action.IGNORE:
            accepted.ignored += 1
            continue
        if report.status == "success":
            incident = lifecycle.recover(report.key(), now=now)
            if incident is not None:
                accepted.outcomes.append(Outcome(incident, created=False))
            continue
        accepted.outcomes.append(_failure(report, route, config, now))
    return accepted


def _failure(report: Report, route: Route | None, config: routing.Config, now: datetime) -> Outcome:
    key = report.key()
    incident = _lock_unresolved(key)
    created = False
    if incident is None:
        try:
            with transaction.atomic():
                incident = _create(report, route, config, key, now)
                created = True
        except IntegrityError:  # a concurrent delivery created it first
            incident = _lock_unresolved(key)
            assert incident is not None  # noqa: S101 (the conflicting row is committed)
    if _record_occurrence(incident, report, now):
        _count(incident, report, now)
        zuul_trouble = incident.category == INFRASTRUCTURE
        if not created and zuul_trouble and report.category != INFRASTRUCTURE:
            _reclassify(incident, report, route, now)
    if incident.pages and incident.escalation_started_at is None:
        full = incident if created else Incident.objects.get(pk=incident.pk)
        lifecycle.start_escalation_if_due(full, now)
    return Outcome(incident, created)


# The hot path of a storm: lock the unresolved incident of a key with one small
# statement (the ORM spends more time building this query than the database running it).
LOCK_FIELDS = (
    "id",
    "state",
    "occurrences",
    "last_seen",
    "pages",
    "escalation_started_at",
    "category",
)


def _lock_unresolved(key: str) -> Incident | None:
    """The unresolved incident of ``key``, row-locked (PostgreSQL) for this transaction;
    only ``LOCK_FIELDS`` are loaded (others load on access)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    query = Incident.objects.raw(
        f"SELECT {', '.join(LOCK_FIELDS)} FROM {Incident._meta.db_table} "  # noqa: S608
        f"WHERE dedup_key = %s AND state <> 'resolved'{lock}",
        [key],
    )
    return next(iter(query), None)


def _create(
    report: Report, route: Route | None, config: routing.Config, key: str, now: datetime
) -> Incident:
    repo = (route.repo if route and route.repo else None) or config.repo(report.repo)
    policy = (
        (route.policy if route and route.policy else None)
        or (repo.policy if repo and repo.policy else None)
        or config.default_policy
    )
    owned = repo is not None and repo.rotation_id is not None
    workflow = (
        (route.workflow if route else "") or (repo.workflow if repo else "") or report.workflow
    )
    silence = config.silence(report, now)
    kind = classification.classify(report, route)
    contacts = list(route.forward_to.all()) if route is not None else []  # prefetched
    left_out = "" if kind.forwards else ", ".join(c.name for c in contacts)
    incident = Incident.objects.create(
        dedup_key=key,
        source=report.source,
        repo=report.repo,
        job=report.job,
        pipeline=report.pipeline,
        branch=report.branch,
        subject=report.subject,
        result=report.result,
        category=kind.category,
        category_reason=kind.reason,
        summary=report.summary,
        url=report.url,
        log_url=report.log_url,
        labels=report.labels,
        first_seen=report.occurred_at or now,
        last_seen=now,
        repo_ref=repo,
        route=route,
        owned=owned,
        pages=report.voting or (route is not None and route.action == Route.Action.PAGE),
        workflow=workflow,
        policy=policy.snapshot() if policy else None,
        min_occurrences=route.min_occurrences if route else 1,
        window_seconds=route.window_seconds if route else 0,
        muted_until=silence.ends if silence else None,
        not_forwarded_to=left_out[:500],
    )
    if contacts and kind.forwards:
        incident.forwarded_to.set(contacts)
    detail = f"{report.source}: {report.result or 'failure'} {report.summary}".strip()
    if not owned:
        detail += " — nobody is responsible for this repo"
    if not incident.pages:
        detail += " — recorded only (non-voting job)"
    if incident.not_forwarded_note:
        detail += f" — {incident.not_forwarded_note}"
    entries = [
        TimelineEntry(
            incident=incident,
            at=now,
            kind=TimelineEntry.Kind.CREATED,
            channel=report.source,
            detail=detail,
        )
    ]
    if silence is not None:
        entries.append(
            TimelineEntry(
                incident=incident,
                at=now,
                kind=TimelineEntry.Kind.MUTED,
                channel="silence",
                detail=f"silence {silence.pk}: {silence.comment}".strip(),
            )
        )
    TimelineEntry.objects.bulk_create(entries)
    return incident


def _reclassify(incident: Incident, report: Report, route: Route | None, now: datetime) -> None:
    """An incident opened by Zuul's trouble, now failed by the job itself: it takes the
    job failure's category, and a compliance failure is forwarded after all."""
    kind = classification.classify(report, route)
    contacts = list(route.forward_to.all()) if route is not None else []
    left_out = "" if kind.forwards else ", ".join(c.name for c in contacts)
    fields: dict[str, object] = {
        "category": kind.category,
        "category_reason": kind.reason,
        "not_forwarded_to": left_out[:500],
    }
    if route is not None:  # else keep the route that opened it
        fields["route"] = route
    Incident.objects.filter(pk=incident.pk).update(**fields)
    TimelineEntry.objects.create(
        incident=incident,
        at=now,
        kind=TimelineEntry.Kind.OCCURRED,
        channel=report.source,
        detail=f"now a {kind.category} failure ({kind.reason}), no longer infrastructure",
    )
    incident.category = kind.category
    if contacts and kind.forwards:
        incident.forwarded_to.set(contacts)
        if incident.escalation_started_at is not None:  # else forwarded when it starts
            forwarding.forward(Incident.objects.get(pk=incident.pk), now)


def _record_occurrence(incident: Incident, report: Report, now: datetime) -> bool:
    """Insert the occurrence; False when this delivery was seen before (a retry)."""
    table = Occurrence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (incident_id, delivery_key, received_at, occurred_at, payload) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (incident_id, delivery_key) DO NOTHING "
            "RETURNING id",
            [
                incident.pk,
                report.delivery_key or uuid.uuid4().hex,
                now,
                report.occurred_at,
                Occurrence._meta.get_field("payload").get_db_prep_value(
                    report.payload, connection, prepared=False
                ),
            ],
        )
        return cursor.fetchone() is not None


def _count(incident: Incident, report: Report, now: datetime) -> None:
    """Bump the counter in the database and keep the latest report's details."""
    table = Incident._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET occurrences = occurrences + 1, "  # noqa: S608
            "last_seen = CASE WHEN last_seen > %s THEN last_seen ELSE %s END, "
            "result = %s, summary = COALESCE(NULLIF(%s, ''), summary), "
            "url = COALESCE(NULLIF(%s, ''), url), log_url = COALESCE(NULLIF(%s, ''), log_url) "
            "WHERE id = %s RETURNING occurrences",
            [now, now, report.result, report.summary, report.url, report.log_url, incident.pk],
        )
        (incident.occurrences,) = cursor.fetchone()
    incident.last_seen = max(incident.last_seen, now)
    incident.result = report.result
    changes.incident_changed(incident.pk)
    if incident.occurrences in TIMELINE_OCCURRENCES:
        TimelineEntry.objects.create(
            incident=incident,
            at=now,
            kind=TimelineEntry.Kind.OCCURRED,
            channel=report.source,
            detail=f"occurrence {incident.occurrences}",
        )
    if incident.occurrences > Occurrence.HISTORY and incident.occurrences % Occurrence.HISTORY == 0:
        _prune(incident)


def _prune(incident: Incident) -> None:
    keep = (
        Occurrence.objects.filter(incident=incident)
        .order_by("-received_at", "-pk")
        .values_list("pk", flat=True)[: Occurrence.HISTORY]
    )
    Occurrence.objects.filter(incident=incident).exclude(pk__in=list(keep)).delete()
