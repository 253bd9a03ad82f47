"""``GET /metrics``: Prometheus text format, computed from the database at scrape time.

No per-process counters: every gunicorn process answers the same numbers because each
scrape reads them from the database in a fixed number of aggregate queries (docs/metrics.md
lists the series and what each number means).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, OuterRef, Q, Subquery
from django.db.models import Sum as SumOf
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector, CollectorRegistry
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from escalation import engine
from escalation.models import Incident, MatrixSync, Notification, TimelineEntry, Watch
from oncall import beat
from oncall.api.auth import HasScope
from oncall.models import Heartbeat, Scope

State = Incident.State

# Upper bounds (seconds) of the MTTA and MTTR histogram buckets; +Inf is added.
MTTA_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600)
MTTR_BUCKETS = (300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600)


def _seconds(value: timedelta | None) -> float:
    return 0.0 if value is None else max(0.0, value.total_seconds())


def _incidents(now: datetime) -> Iterator[Metric]:
    # A muted incident counts as muted only, whatever its state (open or claimed).
    muted = Q(muted_until__gt=now)
    rows = (
        Incident.objects.exclude(state=State.RESOLVED)
        .values("state", "category", team=F("repo_ref__team__slug"))
        .annotate(plain=Count("pk", filter=~muted), muted=Count("pk", filter=muted))
        .order_by()
    )
    family = GaugeMetricFamily(
        "oncall_incidents",
        "Unresolved incidents by state (open, claimed, muted), team and category.",
        labels=["state", "team", "category"],
    )
    totals: dict[tuple[str, str, str], int] = {}
    for row in rows:
        team, category = row["team"] or "", row["category"] or ""
        for state, count in ((row["state"], row["plain"]), ("muted", row["muted"])):
            key = (state, team, category)
            totals[key] = totals.get(key, 0) + count
    for key, count in sorted(totals.items()):
        family.add_metric(list(key), count)
    yield family


def _ages(now: datetime) -> Iterator[Metric]:
    """Oldest unclaimed incident and sweep lag: one query of two aggregates."""
    row = Incident.objects.aggregate(
        oldest=Min("first_seen", filter=Q(state=State.OPEN)),
        due=Min("next_escalation_at", filter=engine.due(now)),
    )
    yield GaugeMetricFamily(
        "oncall_oldest_unclaimed_seconds",
        "Age of the oldest open (unclaimed) incident since first seen; 0 when none.",
        value=_seconds(now - row["oldest"]) if row["oldest"] else 0.0,
    )
    yield GaugeMetricFamily(
        "oncall_sweep_lag_seconds",
        "How far the escalation sweep is behind: now minus the oldest due next_escalation_at"
        " of open, unmuted incidents; 0 when nothing is due.",
        value=_seconds(now - row["due"]) if row["due"] else 0.0,
    )


def _watches() -> Iterator[Metric]:
    """Watches whose "has not reported" incident is open: ``state`` is ``overdue``."""
    yield GaugeMetricFamily(
        "oncall_watches_overdue",
        "Active watches that are overdue: expected reports did not come and the incident"
        " about it is open.",
        value=Watch.objects.filter(active=True, incident__isnull=False).count(),
    )


def _reports() -> Iterator[Metric]:
    # A counter: every number below only grows (exposed as oncall_reports_total).
    family = CounterMetricFamily(
        "oncall_reports",
        "Stored reports by source: result=failure counts failure reports accepted into an"
        " incident (the sum of incidents' occurrences); result=recovered counts success"
        " reports that resolved an incident.",
        labels=["source", "result"],
    )
    failures = Incident.objects.values("source").annotate(n=SumOf("occurrences")).order_by()
    for row in sorted(failures, key=lambda r: r["source"]):
        family.add_metric([row["source"], "failure"], row["n"] or 0)
    # A recovery is the RESOLVED timeline line written by the report's source with no
    # person (lifecycle.recover); timeline lines are never deleted, so this only grows.
    recovered = (
        TimelineEntry.objects.filter(
            kind=TimelineEntry.Kind.RESOLVED, actor__isnull=True, channel=F("incident__source")
        )
        .values("channel")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in sorted(recovered, key=lambda r: r["channel"]):
        family.add_metric([row["channel"], "recovered"], row["n"])
    yield family


def _notifications() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "oncall_notifications_total",
        "Notification rows (pages, reminders, forwards) by channel and current status.",
        labels=["channel", "status"],
    )
    rows = Notification.objects.values("channel", "status").annotate(n=Count("pk")).order_by()
    counts = {(r["channel"], r["status"]): r["n"] for r in rows}
    for channel in Notification.Channel.values:
        for status in Notification.Status.values:
            family.add_metric([channel, status], counts.get((channel, status), 0))
    yield family


def _liveness(now: datetime) -> Iterator[Metric]:
    names = {"scheduler": beat.BEAT_HEARTBEAT, "worker": beat.WORKER_HEARTBEAT}
    seen = dict(Heartbeat.objects.filter(name__in=names.values()).values_list("name", "at"))
    family = GaugeMetricFamily(
        "oncall_heartbeat_age_seconds",
        "Seconds since beat (scheduler) or a worker last wrote its heartbeat; absent when"
        " never seen.",
        labels=["process"],
    )
    for process, name in names.items():
        if name in seen:
            family.add_metric([process], _seconds(now - seen[name]))
    yield family
    syncs = MatrixSync.objects.values_list("user_id", "updated_at")
    matrix = GaugeMetricFamily(
        "oncall_matrix_sync_age_seconds",
        "Seconds since the Matrix listener last stored its sync position, per bot account.",
        labels=["user"],
    )
    for user, at in syncs:
        matrix.add_metric([user], _seconds(now - at))
    yield matrix


def _histogram(
    name: str, doc: str, rows: Any, duration: Any, bounds: Iterable[int]
) -> HistogramMetricFamily:
    """Cumulative buckets counted in SQL: one query with a filtered COUNT per bound."""
    bounds = tuple(bounds)
    rows = rows.annotate(d=ExpressionWrapper(duration, output_field=DurationField()))
    aggregates: dict[str, Any] = {
        f"le{b}": Count("pk", filter=Q(d__lte=timedelta(seconds=b))) for b in bounds
    }
    result = rows.aggregate(count=Count("pk"), total=SumOf("d"), **aggregates)
    buckets = [(str(float(b)), result[f"le{b}"]) for b in bounds]
    buckets.append(("+Inf", result["count"]))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=_seconds(result["total"]))


def _durations() -> Iterator[Metric]:
    first_page = Subquery(
        Notification.objects.filter(
            incident=OuterRef("pk"), kind=Notification.Kind.PAGE, sent_at__isnull=False
        )
        .order_by("sent_at")
        .values("sent_at")[:1]
    )
    paged = Incident.objects.alias(first_page=first_page).filter(
        claimed_at__isnull=False, first_page__isnull=False, claimed_at__gte=F("first_page")
    )
    yield _histogram(
        "oncall_mtta_seconds",
        "Time to acknowledge: first page sent to claim, of claimed incidents.",
        paged,
        F("claimed_at") - F("first_page"),
        MTTA_BUCKETS,
    )
    resolved = Incident.objects.filter(state=State.RESOLVED, resolved_at__isnull=False)
    yield _histogram(
        "oncall_mttr_seconds",
        "Time to resolve: first seen to resolved, of resolved incidents.",
        resolved,
        F("resolved_at") - F("first_seen"),
        MTTR_BUCKETS,
    )


class DatabaseCollector(Collector):
    """Every series from the database, read when scraped (a fixed number of queries)."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from _incidents(now)
        yield from _ages(now)
        yield from _watches()
        yield from _reports()
        yield from _notifications()
        yield from _liveness(now)
        yield from _durations()


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


class MetricsView(APIView):
    """A token (or web session) with the ``read`` scope, or anyone when
    ``ONCALL_METRICS_PUBLIC=1``."""

    required_scopes = {"GET": Scope.READ}
    schema = None

    def get_permissions(self) -> list[permissions.BasePermission]:
        if settings.ONCALL_METRICS_PUBLIC:
            return [permissions.AllowAny()]
        return [HasScope()]

    def get_authenticators(self) -> list[Any]:
        return [] if settings.ONCALL_METRICS_PUBLIC else super().get_authenticators()

    def get(self, request: Request) -> HttpResponse:
        # Text format 0.0.4: what every Prometheus 2.x (Debian 12 ships 2.42) reads.
        return HttpResponse(render(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


metrics = MetricsView.as_view()
