"""The one outbound HTTP client of the channels (webhooks now, Matrix later).

Standard library only. Every request has a timeout (per connect and per read, not
for the whole exchange); redirects are not followed, so a delivery never silently
lands somewhere else; the body read back is bounded. HTTP error statuses are
answers, not exceptions: the caller classifies them. ``HttpError`` means there was
no answer at all (refused, unreachable, timed out, cut off).

``retries`` re-sends after a transport error, a 5xx or a 429, waiting ``Retry-After``
(or a short backoff) when that is at most ``max_wait`` seconds. The delivery loop
retries with its own backoff, so channels that run inside it keep ``retries=0`` and
hold no worker up.
"""

from __future__ import annotations

import email.utils
import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT = 10.0
MAX_BODY = 1024 * 1024
USER_AGENT = "oncall"


class HttpError(Exception):
    """No HTTP answer: connection refused, DNS failure, timeout, connection reset."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("Retry-After"))

    def text(self) -> str:
        return self.body.decode(self.headers.get_content_charset() or "utf-8", "replace")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.
    None when absent or unparsable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back to the caller as a response


_opener = urllib.request.build_opener(_NoRedirects)


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be requested (not http(s), no host), or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https"):
        return "not an http(s) URL"
    if not parts.hostname:
        return "the URL has no host"
    if any(c.isspace() for c in url):
        return "the URL contains white space"
    return None


def _once(
    method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
) -> Response:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (checked)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.headers, answer.read(MAX_BODY))
    except urllib.error.HTTPError as error:
        content = b""
        if error.fp is not None:
            try:
                content = error.read(MAX_BODY)
            except (OSError, http.client.HTTPException):
                pass  # the status is the answer; the body is a courtesy
            finally:
                error.close()
        return Response(error.code, error.headers, content)
    except urllib.error.URLError as error:
        reason = error.reason
        timed_out = isinstance(reason, TimeoutError)
        raise HttpError(f"{method} {url}: {reason}", timeout=timed_out) from error
    except TimeoutError as error:
        raise HttpError(f"{method} {url}: timed out", timeout=True) from error
    except (OSError, http.client.HTTPException) as error:
        raise HttpError(f"{method} {url}: {error!r}") from error


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 0,
    max_wait: float = 5.0,
) -> Response:
    """Send one request (plus at most ``retries`` repeats, see the module docstring).

    Returns the last response, whatever its status; raises ``HttpError`` when the last
    attempt got no answer and ``ValueError`` for a URL that is not http(s).
    """
    problem = check_url(url)
    if problem:
        raise ValueError(f"{url!r}: {problem}")
    attempt = 0
    while True:
        try:
            response = _once(method, url, body, headers or {}, timeout)
        except HttpError:
            if attempt >= retries:
                raise
            wait = min(max_wait, 0.5 * 2**attempt)
        else:
            if attempt >= retries or not (response.status == 429 or response.status >= 500):
                return response
            asked = response.retry_after
            if asked is not None and asked > max_wait:
                return response  # the caller reschedules; we do not sleep that long
            wait = min(max_wait, 0.5 * 2**attempt) if asked is None else asked
        attempt += 1
        time.sleep(wait)
