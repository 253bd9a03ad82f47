"""Django's Redis cache, made to behave like an empty cache while Redis is unreachable.

The database is the source of truth; the cache only saves work. So a Redis outage
must never fail a request: the cache answers as an empty Redis that forgets every
write at once. A read is a miss, a write is dropped, ``add`` succeeds and ``incr``
answers ``delta`` (Redis's INCR of a missing key), so a counter such as a rate
limit counts one and lets the request through; nothing raises. The first error is
logged; for ``RETRY_SECONDS`` after it the cache answers without trying, so an
outage costs one failed connection per process and interval, not one per call.
Short socket timeouts (settings ``CACHES``) bound a hung server the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0


class _Breaker:
    """Shared by every thread of the process: is Redis known to be down right now?"""

    def __init__(self) -> None:
        self.down_until = 0.0
        self.lock = threading.Lock()

    def open(self) -> bool:
        return time.monotonic() < self.down_until

    def failed(self, operation: str, error: Exception) -> None:
        with self.lock:
            first = self.down_until == 0.0
            self.down_until = time.monotonic() + RETRY_SECONDS
        if first:
            log.warning("cache unavailable (%s: %s); answering as a miss", operation, error)

    def succeeded(self) -> None:
        if self.down_until:
            with self.lock:
                self.down_until = 0.0
            log.warning("cache available again")


_breakers: dict[tuple[str, ...], _Breaker] = {}


# What each client method answers while Redis is unreachable: what an empty cache answers.
FALLBACKS: dict[str, Callable[..., Any]] = {
    "add": lambda *args: True,
    "get": lambda key, default: default,
    "set": lambda *args: None,
    "touch": lambda *args: False,
    "delete": lambda *args: False,
    "get_many": lambda *args: {},
    "has_key": lambda *args: False,
    "incr": lambda key, delta: delta,
    "count": lambda key, timeout: 1,
    "set_many": lambda *args: None,
    "delete_many": lambda *args: None,
    "clear": lambda *args: False,
}


def _tolerant(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    fallback = FALLBACKS[name]

    def method(self: TolerantClient, *args: Any) -> Any:
        if self.breaker.open():
            return fallback(*args)
        try:
            result = original(self, *args)
        except RedisError as error:
            self.breaker.failed(name, error)
            return fallback(*args)
        self.breaker.succeeded()
        return result

    method.__name__ = name
    return method


class TolerantClient(RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self.breaker = _breakers.setdefault(tuple(servers), _Breaker())
        self._clients: dict[bool, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """One ``redis.Redis`` per process (and for reads, one for writes), made once:
        Django builds a new one (its ~200 response callbacks) for every call. It is
        thread-safe; its pool hands out the connections."""
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
        return client

    def count(self, key: str, timeout: int) -> int:
        """``add(key, 0, timeout)`` then INCR ``key`` in one round trip (the cache's
        ``add`` and ``incr`` take three)."""
        with self.get_client(key, write=True).pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return int(pipe.execute()[1])


for _name in FALLBACKS:
    setattr(TolerantClient, _name, _tolerant(_name, getattr(TolerantClient, _name)))


class TolerantRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` that never raises a Redis error."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = TolerantClient

    def count(self, key: str, timeout: int) -> int:
        """One more in the counter ``key`` (created with ``timeout``); see TolerantClient."""
        client: TolerantClient = self._cache  # type: ignore[attr-defined]
        return int(client.count(self.make_and_validate_key(key), timeout))
