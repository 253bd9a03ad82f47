"""Webhook channel: one signed JSON POST per notification.

Body: ``{"event": <notification kind>, "incident": <the API's incident>,
"notification": {"id", "step", "round", "ping"}}``. Headers: ``X-Oncall-Timestamp``
(unix seconds) and ``X-Oncall-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">`` keyed with ``ONCALL_WEBHOOK_SECRET``; ``Idempotency-Key`` is
the notification's key, the same on every retry, so receivers can drop repeats.
Receivers check a delivery with ``verify``.

Webhook URLs come from API users, so only public addresses are reached unless
``ONCALL_WEBHOOK_ALLOW_PRIVATE`` is set (``http.request(public_only=...)``), and errors
name the webhook's host only: never its path or query (they may carry a secret) and
never the receiver's answer (it may carry the receiver's secrets), because errors end
up in the incident's timeline that every reader sees.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.crypto import salted_hmac

from escalation.channels import ChannelError, Delivery, http
from escalation.channels import payload as channel_payload

if TYPE_CHECKING:
    from escalation.models import Notification

_SECRET_SALT = "oncall.escalation.channels.webhook"  # noqa: S105 (a salt, not a secret)
#: Statuses that mean "try again later" although they are 4xx.
_TRANSIENT_4XX = {408, 425, 429}


def secret() -> str:
    """``settings.ONCALL_WEBHOOK_SECRET``, else a value derived from ``SECRET_KEY`` (stable
    for as long as the key is)."""
    configured = getattr(settings, "ONCALL_WEBHOOK_SECRET", None)
    if configured:
        return str(configured)
    return salted_hmac(_SECRET_SALT, "webhook-secret", algorithm="sha256").hexdigest()


def sign(body: bytes, timestamp: int | str, key: str | bytes) -> str:
    """The ``X-Oncall-Signature`` value for ``body`` sent at ``timestamp``."""
    key_bytes = key.encode() if isinstance(key, str) else key
    digest = hmac.new(key_bytes, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    body: bytes,
    timestamp: int | str,
    signature: str,
    secret: str | bytes,
    *,
    tolerance: float | None = 300,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` (the ``X-Oncall-Signature`` header) signs ``body`` and
    ``timestamp`` (the ``X-Oncall-Timestamp`` header) with ``secret``, and the timestamp
    lies within ``tolerance`` seconds of ``now`` (None: any age), which stops replays."""
    try:
        sent = int(str(timestamp))
    except ValueError:
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(body, sent, secret), signature.strip())


def payload(notification: Notification) -> dict[str, Any]:
    return {
        "event": notification.kind,
        "incident": channel_payload.incident(notification.incident, timezone.now()),
        "notification": {
            "id": notification.pk,
            "step": notification.step,
            "round": notification.round,
            "ping": notification.ping,
        },
    }


class WebhookChannel:
    aggregates = False

    def __init__(self, timeout: float = http.DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout

    def send(self, batch: list[Notification]) -> Delivery:
        if len(batch) != 1:
            raise ValueError("The webhook channel sends one notification at a time.")
        notification = batch[0]
        url = notification.address
        problem = http.check_url(url)
        if problem:
            raise ChannelError(f"Webhook address: {problem}", permanent=True)
        body = json.dumps(payload(notification), cls=DjangoJSONEncoder).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Oncall-Timestamp": str(timestamp),
            "X-Oncall-Signature": sign(body, timestamp, secret()),
            "Idempotency-Key": notification.key,
        }
        public_only = not settings.ONCALL_WEBHOOK_ALLOW_PRIVATE
        try:
            response = http.request(
                "POST",
                url,
                body=body,
                headers=headers,
                timeout=self.timeout,
                public_only=public_only,
            )
        except http.Refused as error:
            raise ChannelError(str(error), permanent=True) from error
        except http.HttpError as error:
            raise ChannelError(str(error), permanent=False) from error
        if response.ok:
            return Delivery(external_id=notification.key)
        detail = f"Webhook {http.host_of(url)} answered {response.status}"
        if response.status >= 500 or response.status in _TRANSIENT_4XX:
            raise ChannelError(detail, permanent=False, retry_after=response.retry_after)
        # 3xx (redirects are not followed: configure the final URL) and other 4xx.
        raise ChannelError(detail, permanent=True)
