"""Celery beat's scheduler, recording that beat itself is alive (read by /healthz).

The heartbeat task proves that beat published and a worker ran it; this row proves
beat runs even while the broker or every worker is down, so /healthz can say which
of the two is stale.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler
from django.db import DatabaseError, connection
from django.utils import timezone

log = logging.getLogger(__name__)

BEAT_HEARTBEAT = "beat"
WORKER_HEARTBEAT = "worker"  # written by oncall.tasks.heartbeat, run by a worker
INTERVAL_SECONDS = 10.0


class Scheduler(PersistentScheduler):
    _recorded = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._recorded >= INTERVAL_SECONDS:
            self._recorded = now
            record(BEAT_HEARTBEAT)
        return float(super().tick(*args, **kwargs))


def record(name: str) -> None:
    """Write the heartbeat row; a database outage is logged, never raised."""
    from oncall.models import Heartbeat

    try:
        Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})
    except DatabaseError as error:
        log.warning("heartbeat %s not recorded: %s", name, error)
        connection.close()  # reconnect on the next beat
