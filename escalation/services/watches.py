"""Watches: a report that should come and does not is an incident too (docs/watches.md).

``seen`` runs inside ``ingestion.accept`` for every accepted report of every source
(and for a ping URL): a matching watch is up again, and its "no report" incident is
resolved. ``check`` (beat, every ESCALATION_TICK_SECONDS) opens one incident per watch
that has been quiet for ``every + grace``, with one index-backed query. The watch row
is locked by both, so a report racing the sweep either prevents the incident or
resolves it.
"""

from __future__ import annotations

import base64
import contextlib
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from escalation import matching
from escalation import routing_cache as routing
from escalation.ingest import INFRASTRUCTURE, Report
from escalation.models import Incident, Occurrence, Repo, TimelineEntry, Watch
from escalation.services import lifecycle
from oncall.models import hash_secret

BATCH = 200
SOURCE = "watch"
MATCH_KEYS = ("repo", "pipeline", "job", "source")
TOKEN_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
FRESH = timedelta(seconds=1)  # due_at is at most this late after a burst of reports


def match_problems(match: Any) -> list[str]:
    """What is wrong with a watch's ``match`` (empty when it is an object of non-empty glob
    patterns over ``MATCH_KEYS``); the API and the admin word these the same."""
    if not isinstance(match, dict):
        return ["Must be an object of glob patterns."]
    known = ", ".join(MATCH_KEYS)
    problems = [f"{key}: unknown key; use {known}." for key in match if key not in MATCH_KEYS]
    problems += [
        f"{key}: must be a glob pattern (a string)."
        for key, pattern in match.items()
        if key in MATCH_KEYS and not (isinstance(pattern, str) and pattern)
    ]
    return problems


def due_at(watch: Watch, since: datetime) -> datetime:
    return since + timedelta(seconds=watch.every_seconds + watch.grace_seconds)


def every_text(seconds: int) -> str:
    """24 h, 15 min, 90 s: how the cadence reads in a summary."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 3600:
        return f"{round(seconds / 3600)} h"
    if seconds >= 120:
        return f"{round(seconds / 60)} min"
    return f"{seconds} s"


# Signs of life -------------------------------------------------------------------


def seen(reports: Iterable[Report], now: datetime, config: routing.Config | None = None) -> int:
    """Mark every active watch a report matches as up; return how many changed. Runs in the
    caller's transaction (the report and its sign of life commit together)."""
    values = [r.fields() for r in reports]
    if not values:
        return 0
    matched = (config or routing.current()).watched(values)  # the matches, cached per process
    if not matched:
        return 0
    recent = now - FRESH
    candidates = Watch.objects.filter(pk__in=matched, active=True).values_list(
        "pk", "last_seen", "incident_id"
    )
    ids = [
        pk
        for pk, last_seen, incident_id in candidates
        # Seen within the last second and not overdue: nothing to change, and no row
        # lock, so a storm of reports does not queue up behind one watch.
        if not (incident_id is None and last_seen is not None and last_seen >= recent)
    ]
    for watch in Watch.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
        alive(watch, now)
    return len(ids)


def alive(watch: Watch, now: datetime) -> None:
    """A sign of life of a locked ``watch``: up again, its open incident resolved."""
    previous, incident_id = watch.last_seen, watch.incident_id
    if previous is None or previous < now:
        watch.last_seen = now
    watch.due_at = due_at(watch, watch.last_seen or now)
    watch.incident = None
    watch.save(update_fields=["last_seen", "due_at", "incident"])
    if incident_id is None:
        return
    incident = Incident.objects.filter(pk=incident_id).exclude(state="resolved").first()
    if incident is None:
        return  # resolved by a person meanwhile
    quiet = _duration(now - previous) if previous else _duration(now - watch.created_at)
    with contextlib.suppress(lifecycle.InvalidState):  # resolved meanwhile
        lifecycle.resolve(incident, None, SOURCE, f"reported again after {quiet}")


# The sweep ------------------------------------------------------------------------


def due_query(now: datetime, limit: int = BATCH) -> QuerySet[Watch]:
    """The sweep's one query (index ``watch_due``): active, quiet watches past
    ``due_at``, locked, skipping those a report or another sweep holds."""
    return (
        Watch.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(active=True, incident__isnull=True, due_at__lte=now)
        .select_related("repo", "repo__policy", "policy")
        .order_by("due_at")[:limit]
    )


@transaction.atomic
def check(now: datetime | None = None) -> int:
    """Open one "no report" incident per overdue watch; return how many."""
    now = now or timezone.now()
    watches = list(due_query(now))
    config = routing.current() if watches else None
    for watch in watches:
        since = watch.last_seen or watch.created_at
        stamp = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        verb = (
            "has not reported since"
            if watch.last_seen
            else "has not reported since it was set up at"
        )
        summary = (
            f"{_label(watch)} {verb} {stamp} (expected every {every_text(watch.every_seconds)})"
        )
        watch.incident = open_incident(watch, summary, "no report", now, config)
        watch.save(update_fields=["incident"])
    return len(watches)


@shared_task(name="escalation.tasks.check_watches", ignore_result=True)
def check_task() -> int:
    return check()


def fail(watch: Watch, now: datetime) -> Incident:
    """``/hb/<token>/fail``: the watched thing says it failed; an incident at once."""
    with transaction.atomic():
        watch = (
            Watch.objects.select_for_update(of=("self",))
            .select_related("repo", "policy")
            .get(pk=watch.pk)
        )
        watch.last_seen = now
        watch.due_at = due_at(watch, now)
        summary = f"{_label(watch)} reported a failure by its ping URL"
        watch.incident = open_incident(watch, summary, "failure ping", now)
        watch.save(update_fields=["last_seen", "due_at", "incident"])
        return watch.incident


def _literal(pattern: str) -> bool:
    return bool(pattern) and not any(c in pattern for c in "*?[")


def _label(watch: Watch) -> str:
    name = watch.name or watch.match.get("pipeline") or watch.match.get("job") or watch.slug
    repo = watch.repo.name if watch.repo else watch.match.get("repo", "")
    return f"{name} of {repo}" if _literal(repo) else name


def open_incident(
    watch: Watch, summary: str, why: str, now: datetime, config: routing.Config | None = None
) -> Incident:
    """The watch's unresolved incident, opened (and escalating) unless there is one."""
    key = f"{SOURCE}:{watch.slug}"
    existing = Incident.objects.filter(dedup_key=key).exclude(state="resolved").first()
    if existing is not None:
        return existing
    config = config or routing.current()
    named = watch.match.get("repo", "")
    # No owner given: the repo the match names exactly, when it is a known one.
    repo: Repo | None = watch.repo or (config.repo(named) if _literal(named) else None)
    policy = watch.policy or (repo.policy if repo else None) or config.default_policy
    report = Report(
        source=SOURCE,
        status="failure",
        repo=repo.name if repo else watch.match.get("repo", ""),
        job=watch.slug,
        pipeline=watch.match.get("pipeline", ""),
        subject=watch.name or watch.slug,
        summary=summary,
        category=INFRASTRUCTURE,
    )
    silence = config.silence(report, now)
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                dedup_key=key,
                source=SOURCE,
                repo=report.repo,
                job=report.job,
                pipeline=report.pipeline,
                subject=report.subject,
                result="NO_REPORT" if why == "no report" else "FAILURE",
                category=INFRASTRUCTURE,
                category_reason=f"watch {watch.slug}: {why}"[:255],
                summary=summary,
                first_seen=now,
                last_seen=now,
                occurrences=1,
                repo_ref=repo,
                owned=repo is not None and repo.rotation_id is not None,
                policy=policy.snapshot() if policy else None,
                muted_until=silence.ends if silence else None,
            )
    except IntegrityError:  # a concurrent /fail opened it first
        return Incident.objects.get(dedup_key=key, state__in=["open", "claimed"])
    detail = f"watch {watch.slug}: {summary}"
    if not incident.owned:
        detail += " — nobody is responsible for this repo"
    TimelineEntry.objects.create(
        incident=incident, at=now, kind=TimelineEntry.Kind.CREATED, channel=SOURCE, detail=detail
    )
    lifecycle.start_escalation_if_due(incident, now)
    return incident


# Ping URLs (like the ICS feeds: only a hash is stored, the secret is derived again) ---


def _derive(watch: Watch, issued_at: datetime) -> str:
    micros = (issued_at - TOKEN_EPOCH) // timedelta(microseconds=1)
    mac = salted_hmac("oncall.escalation.watches", f"{watch.pk}:{micros}", algorithm="sha256")
    return "w_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def issue_token(watch: Watch) -> str:
    """A new ping token for ``watch``; the old one stops working."""
    issued_at = timezone.now()
    if watch.ping_issued_at is not None and issued_at <= watch.ping_issued_at:
        issued_at = watch.ping_issued_at + timedelta(microseconds=1)
    secret = _derive(watch, issued_at)
    watch.ping_digest = hash_secret(secret)
    watch.ping_issued_at = issued_at
    watch.save(update_fields=["ping_digest", "ping_issued_at"])
    return secret


def current_token(watch: Watch) -> str | None:
    if not watch.ping_digest or watch.ping_issued_at is None:
        return None
    secret = _derive(watch, watch.ping_issued_at)
    return secret if hash_secret(secret) == watch.ping_digest else None


def by_token(token: str) -> Watch | None:
    if not token.startswith("w_"):
        return None
    return Watch.objects.filter(ping_digest=hash_secret(token)).first()


def ping(watch: Watch, now: datetime) -> None:
    with transaction.atomic():
        alive(Watch.objects.select_for_update().get(pk=watch.pk), now)


# Learned cadence ------------------------------------------------------------------

HISTORY_DAYS = 30
MIN_REPORTS = 4


def suggestions(now: datetime) -> list[dict[str, Any]]:
    """(repo, pipeline) pairs that reported at a regular cadence in the last 30 days
    (failures stored as occurrences, successes as recoveries) and no watch covers."""
    since = now - timedelta(days=HISTORY_DAYS)
    times: dict[tuple[str, str], set[datetime]] = defaultdict(set)
    failures = Occurrence.objects.filter(received_at__gte=since).exclude(incident__pipeline="")
    for repo, pipeline, at in failures.values_list(
        "incident__repo", "incident__pipeline", "received_at"
    ):
        times[(repo, pipeline)].add(at)
    recoveries = (
        Incident.objects.filter(resolved_at__gte=since, resolved_by__isnull=True, state="resolved")
        .exclude(pipeline="")
        .exclude(source=SOURCE)
    )
    for repo, pipeline, resolved in recoveries.values_list("repo", "pipeline", "resolved_at"):
        if resolved is not None:
            times[(repo, pipeline)].add(resolved)
    watched = list(Watch.objects.values_list("match", flat=True))
    repos = set(Repo.objects.filter(name__in={r for r, _ in times}).values_list("name", flat=True))
    found = []
    for (repo, pipeline), stamps in sorted(times.items()):
        if len(stamps) < MIN_REPORTS:
            continue
        if any(matching.matches(m, {"repo": repo, "pipeline": pipeline}) for m in watched):
            continue
        ordered = sorted(stamps)
        gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
        every = statistics.median(gaps)
        regular = sum(1 for g in gaps if abs(g - every) <= every / 4)
        if every < 60 or regular * 2 < len(gaps):
            continue  # bursts of retries, or no cadence
        every_seconds = _round_cadence(every)
        found.append(
            {
                "slug": f"{repo.rsplit('/', 1)[-1]}-{pipeline}".lower().replace("/", "-")[:64],
                "name": pipeline,
                "match": {"repo": repo, "pipeline": pipeline},
                "every_seconds": every_seconds,
                "grace_seconds": max(60, every_seconds // 4),
                "repo": repo if repo in repos else None,
                "reports": len(ordered),
                "last_seen": ordered[-1],
            }
        )
    return found


def _round_cadence(seconds: float) -> int:
    """A median of 86,312 s reads as 24 h; of 3,590 s as 1 h; below an hour, minutes."""
    unit = 3600 if seconds >= 3600 else 60
    return max(unit, round(seconds / unit) * unit)
