"""Queue a Celery task without ever failing or stalling the caller on a broker outage.

A message only wakes a worker up sooner: the state is in the database and the
periodic sweep finds any work whose message never arrived. So publishing must not
cost a request more than a moment, nor raise after its transaction committed
(``transaction.on_commit`` re-raises, which would turn a stored event into a 500).

A publish tries twice at once (the second attempt reconnects a pooled connection
that died with a Redis restart), then gives up: the failure is logged, and for
``RETRY_SECONDS`` later publishes in this process are skipped without trying, so a
burst of requests during an outage pays for one refused connection, not one each.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from functools import partial
from typing import Any

from celery import Task
from django.db import transaction
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
# Celery's default policy retries for ~0.6 s; without retry a publish waits for
# the connection timeout (4 s). One immediate retry is all a restart needs.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
BROKER_ERRORS = (KombuError, RedisError, OSError)

_lock = threading.Lock()
_down_until = 0.0
_skipped = 0


def enqueue(
    task: Task, *args: Any, eta: datetime | None = None, countdown: float | None = None
) -> bool:
    """Publish ``task(*args)``; False (logged) when the broker could not take it."""
    global _down_until, _skipped
    if time.monotonic() < _down_until:
        with _lock:
            _skipped += 1
        return False
    when: dict[str, Any] = {"eta": eta} if eta else {"countdown": countdown} if countdown else {}
    try:
        task.apply_async(args=args, retry=True, retry_policy=PUBLISH_RETRY, **when)
    except BROKER_ERRORS as error:
        with _lock:
            _down_until = time.monotonic() + RETRY_SECONDS
        log.warning(
            "broker unavailable: %s%r not queued, the sweep will do it (%s)", task.name, args, error
        )
        return False
    if _down_until:
        with _lock:
            skipped, _skipped, _down_until = _skipped, 0, 0.0
        log.warning("broker available again (%d wake-ups were left to the sweep)", skipped)
    return True


def enqueue_on_commit(
    task: Task, *args: Any, eta: datetime | None = None, countdown: float | None = None
) -> None:
    """``enqueue`` once the current transaction commits (at once outside of one)."""
    transaction.on_commit(partial(enqueue, task, *args, eta=eta, countdown=countdown))
