"""Login limits (docs/api.md, "Limits"): after ``ONCALL_LOGIN_FAILURES`` (10) wrong
passwords within ``ONCALL_LOGIN_WINDOW_SECONDS`` (15 min) from one address, or for one
username, the login pages (``/accounts/login/`` and ``/admin/login/``) answer 429 to
every further attempt from that address or for that username, the right password
included, until the window that began with the first failure has passed.

Failures are counted from Django's ``user_login_failed`` signal, so every login form
that authenticates counts; the refusal happens before the password is checked, which
also spares the ~0.5 s a password hash costs. The counters live in the shared cache
and, like every limiter here, a failing cache lets logins through (fails open).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from oncall import ratelimit

log = logging.getLogger(__name__)

LOGIN_VIEWS = {"login", "admin:login"}


def _keys(request: HttpRequest, username: str | None) -> list[str]:
    keys = [ratelimit.key("login-address", request.META.get("REMOTE_ADDR", ""))]
    if username:
        keys.append(ratelimit.key("login-user", username.strip().lower()))
    return keys


def locked_for(request: HttpRequest, username: str | None, now: float | None = None) -> float:
    """Seconds until a login for ``username`` from this address is allowed again; 0 now."""
    now = time.time() if now is None else now
    window = settings.ONCALL_LOGIN_WINDOW_SECONDS
    try:
        found = cache.get_many(_keys(request, username))
    except Exception:  # noqa: BLE001 - the cache is down: let logins through
        log.warning("login limit not checked: the cache failed", exc_info=True)
        return 0.0
    wait = 0.0
    for since, failures in found.values():
        if failures >= settings.ONCALL_LOGIN_FAILURES and now < since + window:
            wait = max(wait, since + window - now)
    return wait


def record_failure(request: HttpRequest | None, username: str | None) -> None:
    """Count one wrong password for the address and the username."""
    if request is None:
        return  # not a login through the web (e.g. a management command)
    now = time.time()
    window = settings.ONCALL_LOGIN_WINDOW_SECONDS
    try:
        keys = _keys(request, username)
        found = cache.get_many(keys)
        updated = {}
        for key in keys:
            since, failures = found.get(key, (now, 0))
            if now >= since + window:  # a new window starts with this failure
                since, failures = now, 0
            updated[key] = (since, failures + 1)
        # Read-modify-write: a few concurrent failures may count as one. A limit of
        # ten per quarter of an hour does not need more precision than that.
        cache.set_many(updated, timeout=window + 60)
    except Exception:  # noqa: BLE001
        log.warning("login failure not counted: the cache failed", exc_info=True)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """``user_login_failed`` receiver."""
    record_failure(request, credentials.get("username"))


class LoginLimitMiddleware:
    """Answers 429 to a login POST while its address or username is locked out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        wait = locked_for(request, request.POST.get("username"))
        if not wait:
            return None
        minutes = max(1, math.ceil(wait / 60))
        response = HttpResponse(
            "Too many failed logins from this address or for this username. "
            f"Logins are refused for {minutes} more minute{'s' if minutes > 1 else ''}; "
            "try again later.\n",
            content_type="text/plain; charset=utf-8",
            status=429,
        )
        response["Retry-After"] = str(math.ceil(wait))
        return response
