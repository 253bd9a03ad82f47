"""kombu's Redis transport, with a fix that keeps the worker alive when Redis restarts.

With Celery 5.7 / kombu 5.7, a worker holding unacknowledged messages (ETA tasks,
late-acked tasks) when its Redis connection breaks died with ``Unrecoverable error:
AttributeError("'NoneType' object has no attribute 'hostname'")``: on connection
loss the consumer first ``collect()``s the connection, which detaches the transport
(``transport.client = None``), then ``close()``s it; closing the channel restores
the unacknowledged messages, which opens a new Redis client from
``transport.client.hostname``. Celery only ignores connection errors there, so the
``AttributeError`` ended the worker (the same happened to a late ack after the
reconnect). Here a channel of a detached transport raises a connection error
instead: Celery logs it and reconnects. The messages it could not restore stay in
Redis's unacked set and come back after the visibility timeout; the sweep does their
work meanwhile (the database is the source of truth).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_fixed_redis_transport() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use this transport."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
