"""Channels deliver notifications: one class per channel, one interface.

``send(batch)`` gets one or more ``Notification`` rows for the same channel and
address (several when the delivery aggregates pages for one person) and returns a
``Delivery``, or raises ``ChannelError``: ``permanent`` errors are not retried,
others are retried with backoff (at least ``retry_after`` seconds later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from escalation.models import Notification


class ChannelError(Exception):
    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    external_id: str = ""


class Channel(Protocol):
    #: Whether several pending notifications to one address may go out as one message.
    aggregates: bool

    def send(self, batch: list[Notification]) -> Delivery: ...


# Channel name → channel; filled by ``escalation.plugins`` (e-mail, webhook, Matrix).
_REGISTRY: dict[str, Channel] = {}


def register(name: str, channel: Channel) -> None:
    _REGISTRY[name] = channel


def get(name: str) -> Channel | None:
    """The channel registered under ``name``; None when it is not configured (e.g. Matrix
    without a homeserver), which fails its notifications permanently."""
    return _REGISTRY.get(name)


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)
