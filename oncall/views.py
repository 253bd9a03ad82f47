"""Service endpoints: /healthz."""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache

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


def _scheduler_state() -> str:
    """'ok' when beat and a worker ran the heartbeat within two minutes (informative only)."""
    beat = Heartbeat.objects.filter(name="worker").values_list("at", flat=True).first()
    if beat is None:
        return "unknown"
    return "ok" if timezone.now() - beat < timedelta(minutes=2) else "stale"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    database = _database_ok()
    body = {
        "database": "ok" if database else "down",
        "broker": "ok" if _broker_ok() else "down",
        "scheduler": _scheduler_state() if database else "unknown",
    }
    healthy = body["database"] == "ok" and body["broker"] == "ok"
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
