"""Per-token rate limits of the API (docs/api.md, "Limits").

``ONCALL_RATE_INGEST`` applies to the ingestion endpoints, ``ONCALL_RATE_API`` to
everything else under the API. A request is counted for its token; a session for its
user; anything else (GitHub's signed deliveries, anonymous calls) for its address.
Over the limit DRF raises ``Throttled``, which answers 429 ``rate_limited`` with
``Retry-After``. Cache failures never refuse a request (``oncall.ratelimit``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from oncall import ratelimit


class _TokenRate(BaseThrottle):
    setting = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.wait_seconds = ratelimit.hit(
            ratelimit.key(self.setting, _identity(request)), getattr(settings, self.setting)
        )
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


class ApiRate(_TokenRate):
    setting = "ONCALL_RATE_API"


class IngestRate(_TokenRate):
    setting = "ONCALL_RATE_INGEST"


def _identity(request: Request) -> str:
    token = request.auth
    if token is not None and getattr(token, "pk", None) is not None:
        return f"token:{token.pk}"
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "pk", None) is not None:
        return f"user:{user.pk}"
    return f"address:{request.META.get('REMOTE_ADDR', '')}"
