"""On-call reports (docs/reports.md): per ISO week, incidents, MTTA, MTTR, the share claimed
within 15 minutes and pages out of hours; per repo the same; the noisiest and flakiest jobs.

Read-only, and a constant number of queries whatever the number of incidents: one for the
incidents of the range, one for their pages (the numbers are then summed in Python, which
also keeps the per-person time-zone arithmetic out of SQL).
"""

from __future__ import annotations

import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Q

from escalation.models import Incident, Notification
from rotations.models import Team

WEEKS = 12
MAX_DAYS = 731  # about two years
CLAIM_TARGET = timedelta(minutes=15)
WORKDAY = (time(8), time(18))  # local; outside it, or on Saturday/Sunday: out of hours
TOP = 10
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


class BadRange(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_name(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def default_range(today: date) -> tuple[date, date]:
    """The last ``WEEKS`` ISO weeks, this one included."""
    return monday(today) - timedelta(weeks=WEEKS - 1), today


def parse_day(name: str, raw: str | None, default: date) -> date:
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as error:
        raise BadRange(name, "Not a date: give YYYY-MM-DD, e.g. 2026-11-30.") from error


def check_range(start: date, end: date) -> None:
    for name, day in (("from", start), ("to", end)):
        if not FIRST_DAY <= day <= LAST_DAY:  # week arithmetic past year 9999 overflows
            raise BadRange(name, f"Give a date from {FIRST_DAY} to {LAST_DAY}.")
    if start > end:
        raise BadRange("from", "'from' is after 'to'.")
    if (end - start).days > MAX_DAYS:
        raise BadRange("to", f"At most {MAX_DAYS} days between 'from' and 'to'.")


def out_of_hours(at: datetime, zone: str) -> bool:
    """Outside 08:00–18:00 on the person's own clock, or on their Saturday or Sunday."""
    try:
        local = at.astimezone(zoneinfo.ZoneInfo(zone or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = at.astimezone(UTC)
    return local.weekday() >= 5 or not WORKDAY[0] <= local.time() < WORKDAY[1]


@dataclass
class Bucket:
    incidents: int = 0
    ack: list[float] = field(default_factory=list)
    repair: list[float] = field(default_factory=list)
    paged: int = 0
    within: int = 0
    pages_out_of_hours: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "mtta_seconds": _mean(self.ack),
            "mttr_seconds": _mean(self.repair),
            "claimed_within_15m": round(self.within / self.paged, 4) if self.paged else None,
            "pages_out_of_hours": self.pages_out_of_hours,
        }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def build(team: Team | None, start: date, end: date) -> dict[str, Any]:
    """The report for incidents first seen from Monday of ``start``'s week to the end of
    ``end``'s week (UTC), optionally only those of ``team``'s repos."""
    first = monday(start)
    last = monday(end)
    since, until = _start_of(first), _start_of(last + timedelta(days=7))
    scope = Q(repo_ref__team=team) if team else Q()
    incidents: list[dict[str, Any]] = [
        dict(row)
        for row in Incident.objects.filter(scope, first_seen__gte=since, first_seen__lt=until)
        .order_by()
        .values("pk", "repo", "job", "first_seen", "claimed_at", "resolved_at", "resolved_by")
    ]
    page_scope = Q(incident__repo_ref__team=team) if team else Q()
    pages: list[dict[str, Any]] = [
        dict(row)
        for row in Notification.objects.filter(
            page_scope,
            Q(incident__first_seen__gte=since, incident__first_seen__lt=until)
            | Q(sent_at__gte=since, sent_at__lt=until),
            kind__in=[Notification.Kind.PAGE, Notification.Kind.REPAGE],
            status=Notification.Status.SENT,
            sent_at__isnull=False,
        )
        .order_by()
        .values("incident_id", "kind", "sent_at", "person_id", "person__timezone")
    ]
    first_page: dict[int, datetime] = {}
    weeks = {week_name(first + timedelta(weeks=n)): Bucket() for n in range(_weeks(first, last))}
    repos: dict[str, Bucket] = defaultdict(Bucket)
    repo_of = {i["pk"]: i["repo"] for i in incidents}
    for p in pages:
        sent: datetime = p["sent_at"]
        if p["kind"] == Notification.Kind.PAGE:
            known = first_page.get(p["incident_id"])
            if known is None or sent < known:
                first_page[p["incident_id"]] = sent
        counts = p["person_id"] and since <= sent < until
        if counts and out_of_hours(sent, p["person__timezone"]):
            weeks[week_name(sent.date())].pages_out_of_hours += 1
            if p["incident_id"] in repo_of:
                repos[repo_of[p["incident_id"]]].pages_out_of_hours += 1
    noisy: Counter[tuple[str, str]] = Counter()
    flaky: Counter[tuple[str, str]] = Counter()
    for i in incidents:
        key = (i["repo"], i["job"])
        noisy[key] += 1
        if i["resolved_at"] and i["resolved_by"] is None and i["claimed_at"] is None:
            flaky[key] += 1  # failed, then recovered by itself: one fail/recover cycle
        for bucket in (weeks[week_name(i["first_seen"].date())], repos[i["repo"]]):
            _count(bucket, i, first_page.get(i["pk"]))
    return {
        "team": team.slug if team else None,
        "from": first,
        "to": last + timedelta(days=6),
        "weeks": [{"week": name, **bucket.row()} for name, bucket in weeks.items()],
        "repos": [{"repo": name, **repos[name].row()} for name in sorted(repos)],
        "noisiest": _top(noisy, "incidents"),
        "flakiest": _top(flaky, "recoveries"),
    }


def _weeks(first: date, last: date) -> int:
    return (last - first).days // 7 + 1


def _count(bucket: Bucket, incident: dict[str, Any], paged_at: datetime | None) -> None:
    bucket.incidents += 1
    if incident["resolved_at"]:
        bucket.repair.append((incident["resolved_at"] - incident["first_seen"]).total_seconds())
    if paged_at is None:
        return
    bucket.paged += 1
    claimed = incident["claimed_at"]
    if claimed is not None and claimed >= paged_at:
        bucket.ack.append((claimed - paged_at).total_seconds())
        if claimed - paged_at <= CLAIM_TARGET:
            bucket.within += 1


def _top(counter: Counter[tuple[str, str]], name: str) -> list[dict[str, Any]]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return [{"repo": repo, "job": job, name: count} for (repo, job), count in ranked]


CSV_FIELDS = [
    "week",
    "incidents",
    "mtta_seconds",
    "mttr_seconds",
    "claimed_within_15m",
    "pages_out_of_hours",
]


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [CSV_FIELDS]
    for week in report["weeks"]:
        rows.append(["" if week[f] is None else week[f] for f in CSV_FIELDS])
    return rows
