"""The Celery app: broker choice, reliability options, routes and the beat schedule.

The database is the source of truth for escalation; the broker only wakes
workers up. So the embedded broker (no Redis) may lose a message on a crash:
the periodic sweep finds the due work one tick later.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery, signals

from oncall import broker
from oncall.logs import JsonFormatter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")

# Tasks are never scheduled with an ETA further ahead than this; later work waits
# for the sweep. It bounds how long Redis must keep an unacknowledged message.
MAX_ETA_SECONDS = 3600
QUEUES = ("default", "escalation", "notify")
TIMER_PRECISION_SECONDS = 0.1


def broker_config(
    redis_url: str | None, broker_dir: Path, poll_seconds: float = 0.1
) -> dict[str, Any]:
    """Broker settings: Redis when a URL is given, else kombu's filesystem transport,
    which a worker reads by listing the folder every ``poll_seconds`` while it is idle."""
    if redis_url:
        # kombu's Redis transport with a fix for the worker's crash when Redis restarts.
        broker.use_fixed_redis_transport()
        return {
            "broker_url": redis_url,
            # Redis redelivers an unacknowledged message after the visibility
            # timeout: it must outlast the longest ETA or held ETA tasks run twice.
            "broker_transport_options": {
                "visibility_timeout": 2 * MAX_ETA_SECONDS,
                # A hung Redis (accepts, never answers) must not hold a request that
                # publishes a wake-up: oncall/enqueue.py gives up after two attempts.
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
            },
            "broker_connection_retry_on_startup": True,
        }
    folder = broker_dir / "queue"
    control = broker_dir / "control"
    for path in (folder, control):
        path.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(control),
            "store_processed": False,
            # kombu's default is 1 s per idle round, paid at each hop (advance, then
            # deliver): 2-3 s from a report to the room. A tenth of that keeps an idle
            # worker well under 1 % of a core (figures in docs/operations.md).
            "polling_interval": poll_seconds,
        },
        "worker_enable_remote_control": False,
    }


def app_config(
    redis_url: str | None, broker_dir: Path, tick_seconds: int, poll_seconds: float = 0.1
) -> dict[str, Any]:
    return {
        **broker_config(redis_url, broker_dir, poll_seconds),
        "task_ignore_result": True,
        "result_backend": None,
        # A task is acknowledged after it ran, and given back when its worker dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A worker holding ETA tasks (every re-ping ahead) sleeps up to this long before
        # it looks at its schedule again, also for an ETA task that is due at once (an
        # incident's first step): Celery's 1 s cost up to a second per first page.
        "worker_timer_precision": TIMER_PRECISION_SECONDS,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_default_queue": "default",
        "task_routes": {
            # The sweep must not wait behind a backlog of the advance tasks it recovers.
            "escalation.tasks.sweep": {"queue": "default"},
            "escalation.tasks.check_watches": {"queue": "default"},
            "escalation.tasks.*": {"queue": "escalation"},
            "escalation.channels.*": {"queue": "notify"},
        },
        "beat_schedule": {
            "escalation-sweep": {
                "task": "escalation.tasks.sweep",
                "schedule": timedelta(seconds=tick_seconds),
                "options": {"expires": tick_seconds},
            },
            "watches": {
                "task": "escalation.tasks.check_watches",
                "schedule": timedelta(seconds=tick_seconds),
                "options": {"expires": tick_seconds},
            },
            "handoff-notices": {
                "task": "rotations.tasks.send_handoff_notices",
                "schedule": timedelta(minutes=1),
                "options": {"expires": 60},
            },
            "swap-notices": {
                "task": "rotations.tasks.resend_swap_notices",
                "schedule": timedelta(minutes=1),
                "options": {"expires": 60},
            },
            "matrix-sweep": {
                "task": "escalation.tasks.matrix_sweep",
                "schedule": timedelta(seconds=15),
                "options": {"expires": 15},
            },
            "matrix-topics": {
                "task": "escalation.tasks.matrix_topics",
                "schedule": timedelta(minutes=10),
                "options": {"expires": 600},
            },
            "heartbeat": {
                "task": "oncall.tasks.heartbeat",
                "schedule": timedelta(seconds=30),
                "options": {"expires": 30},
            },
        },
        # Beat wakes up at least once a tick, so short intervals keep their rhythm.
        "beat_max_loop_interval": tick_seconds,
        # Records beat's own heartbeat for /healthz (oncall/beat.py).
        "beat_scheduler": "oncall.beat:Scheduler",
    }


app = Celery("oncall")
# Loaded lazily on first use, so importing this module never reads Django settings.
app.config_from_object("oncall.celeryconfig")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _follow_log_format(logger: logging.Logger, **kwargs: Any) -> None:
    """Celery installs its own handlers (and its own text format, kept for ``text``);
    with LOG_FORMAT=json they write the same JSON lines as the rest of oncall."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
