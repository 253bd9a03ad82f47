"""Service endpoints: /healthz."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache

from oncall import beat
from oncall.api.errors import error_body
from oncall.models import Heartbeat

log = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        log.exception("health check: database")
        return False


def _broker_ok() -> bool:
    try:
        if settings.REDIS_URL:
            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
            )
            client.ping()
            client.close()
        else:
            probe = settings.CELERY_BROKER_DIR / "queue" / ".healthz"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
        return True
    except Exception:
        log.exception("health check: broker")
        return False


def _heartbeats() -> dict[str, Any]:
    """Liveness of beat and of the workers from their heartbeat rows: ``ok``, ``stale``
    (older than ONCALL_HEARTBEAT_STALE_SECONDS) or ``unknown`` (never seen: a new
    installation), and the age in seconds."""
    names = {"scheduler": beat.BEAT_HEARTBEAT, "worker": beat.WORKER_HEARTBEAT}
    seen = dict(Heartbeat.objects.filter(name__in=names.values()).values_list("name", "at"))
    now = timezone.now()
    body: dict[str, Any] = {}
    for key, name in names.items():
        at = seen.get(name)
        age = None if at is None else max(0, round((now - at).total_seconds()))
        stale = age is not None and age > settings.ONCALL_HEARTBEAT_STALE_SECONDS
        body[key] = "unknown" if age is None else "stale" if stale else "ok"
        body[f"{key}_age_seconds"] = age
    return body


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database_ok()
    body: dict[str, Any] = {
        "database": "ok" if database else "down",
        "broker": "ok" if _broker_ok() else "down",
        "scheduler": "unknown",
        "worker": "unknown",
        "scheduler_age_seconds": None,
        "worker_age_seconds": None,
    }
    if database:
        body.update(_heartbeats())
    body["stale_after_seconds"] = settings.ONCALL_HEARTBEAT_STALE_SECONDS
    if request.GET.get("scope") == "web":
        # Can this web node take requests? Ingest and the API need only the database
        # (a Redis outage loses nothing), so a load balancer or the compose health
        # check must not take web nodes out because a worker or Redis is down.
        healthy = database
    else:
        healthy = (
            body["database"] == "ok"
            and body["broker"] == "ok"
            and "stale" not in (body["scheduler"], body["worker"])
        )
    return JsonResponse(body, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("server_error", "Internal error; it has been logged."), status=500
        )
    return defaults.server_error(request)
