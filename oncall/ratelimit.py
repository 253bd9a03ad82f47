"""Counters in the shared cache for rate limits (API, ingest, logins).

The cache is Redis when ``REDIS_URL`` is set, so a limit holds across every gunicorn
process; without Redis it is per process. A limiter must never turn a working request
into an error: when the cache fails (Redis down), every function here answers "not
limited" and logs, i.e. it fails open.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time

from django.core.cache import cache

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


def parse_rate(value: str) -> tuple[int, int]:
    """``"50/s"`` → (50, 1); units ``s``, ``m``, ``h``. Raises ValueError otherwise."""
    match = _RATE.match(value.lower())
    if not match or match[2] not in _UNITS or int(match[1]) < 1:
        raise ValueError(f"{value!r}: expected N/s, N/m or N/h with N ≥ 1")
    return int(match[1]), _UNITS[match[2]]


def key(*parts: object) -> str:
    """A cache key for ``parts`` (hashed: user input such as a username may be in it)."""
    digest = hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"oncall:rl:{digest}"


def hit(name: str, rate: str, now: float | None = None) -> float | None:
    """Count one request against ``name`` limited to ``rate`` (fixed windows aligned to
    the period). Returns the seconds to wait (≥ 1) when over the limit, else None."""
    limit, period = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // period)
    bucket = f"{name}:{window}"
    try:
        counter = getattr(cache, "count", None)  # Redis (oncall.cache): one round trip
        if counter is not None:
            count = counter(bucket, period + 1)
        else:
            cache.add(bucket, 0, timeout=period + 1)
            count = cache.incr(bucket)
    except Exception:  # noqa: BLE001 - Redis down, or the bucket expired meanwhile
        log.warning("rate limit %s not checked: the cache failed", name, exc_info=True)
        return None
    if count <= limit:
        return None
    return float(max(1, math.ceil((window + 1) * period - now)))
