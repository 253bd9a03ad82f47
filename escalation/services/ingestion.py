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
    watches.seen(reports, now, config)  # success or failure, routed or ignored: a sign of life
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
    found = _repeat(key, report, now)
    created = False
    if found is None:
        try:
            with transaction.atomic():
                incident = _create(report, route, config, key, now)
                created = True
        except IntegrityError:  # a concurrent delivery created it first
            found = _repeat(key, report, now)
            assert found is not None  # noqa: S101 (the conflicting row is committed)
    if found is None:
        counted = _record_occurrence(incident, report, now)
        if counted:
            _bump(incident, report, now)
    else:
        incident, counted = found
    if counted:
        _counted(incident, report, now)
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


# In the model's field order, as ``Model.from_db`` takes them.
LOCKED = tuple(f.attname for f in Incident._meta.concrete_fields if f.attname in LOCK_FIELDS)


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


def _repeat(key: str, report: Report, now: datetime) -> tuple[Incident, bool] | None:
    """A repeat of the unresolved incident of ``key``: lock it, record the occurrence and
    count it. None when no incident of ``key`` is open; else the incident (``LOCK_FIELDS``
    loaded, counted) and whether this delivery was new (False: a retry, not counted)."""
    if connection.vendor != "postgresql":
        incident = _lock_unresolved(key)
        if incident is None:
            return None
        counted = _record_occurrence(incident, report, now)
        if counted:
            _bump(incident, report, now)
        return incident, counted
    # One statement, one round trip: the hot path of a storm of identical failures.
    with connection.cursor() as cursor:
        cursor.execute(
            REPEAT_SQL, [key, *_occurrence_values(report, now), *_bump_values(report, now)]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    *values, counted = row
    return Incident.from_db(connection.alias, LOCKED, values), counted


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


OCCURRENCE_INSERT = (
    f"INSERT INTO {Occurrence._meta.db_table} "
    "(incident_id, delivery_key, received_at, occurred_at, payload) "
)
BUMP = (
    "occurrences = occurrences + 1, "
    "last_seen = CASE WHEN last_seen > %s THEN last_seen ELSE %s END, "
    "result = %s, summary = COALESCE(NULLIF(%s, ''), summary), "
    "url = COALESCE(NULLIF(%s, ''), url), log_url = COALESCE(NULLIF(%s, ''), log_url)"
)
_incidents = Incident._meta.db_table
_returned = ", ".join(
    f"COALESCE(counted.{f}, target.{f})" if f in ("occurrences", "last_seen") else f"target.{f}"
    for f in LOCKED
)
REPEAT_SQL = (
    f"WITH target AS (SELECT {', '.join(LOCKED)} FROM {_incidents} "  # noqa: S608
    "WHERE dedup_key = %s AND state <> 'resolved' FOR UPDATE), "
    f"added AS ({OCCURRENCE_INSERT} SELECT id, %s, %s, %s, %s FROM target "
    "ON CONFLICT (incident_id, delivery_key) DO NOTHING RETURNING incident_id), "
    f"counted AS (UPDATE {_incidents} SET {BUMP} "
    "WHERE id IN (SELECT incident_id FROM added) RETURNING id, occurrences, last_seen) "
    f"SELECT {_returned}, counted.id IS NOT NULL FROM target LEFT JOIN counted USING (id)"
)


def _occurrence_values(report: Report, now: datetime) -> list[Any]:
    return [
        report.delivery_key or uuid.uuid4().hex,
        now,
        report.occurred_at,
        Occurrence._meta.get_field("payload").get_db_prep_value(
            report.payload, connection, prepared=False
        ),
    ]


def _bump_values(report: Report, now: datetime) -> list[Any]:
    return [now, now, report.result, report.summary, report.url, report.log_url]


def _record_occurrence(incident: Incident, report: Report, now: datetime) -> bool:
    """Insert the occurrence; False when this delivery was seen before (a retry)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{OCCURRENCE_INSERT} VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (incident_id, delivery_key) DO NOTHING RETURNING id",
            [incident.pk, *_occurrence_values(report, now)],
        )
        return cursor.fetchone() is not None


def _bump(incident: Incident, report: Report, now: datetime) -> None:
    """Bump the counter in the database and keep the latest report's details."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_incidents} SET {BUMP} WHERE id = %s RETURNING occurrences",  # noqa: S608
            [*_bump_values(report, now), incident.pk],
        )
        (incident.occurrences,) = cursor.fetchone()
    incident.last_seen = max(incident.last_seen, now)


def _counted(incident: Incident, report: Report, now: datetime) -> None:
    """What follows a counted occurrence: the hooks, a timeline line now and then, pruning."""
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
