"""The one outbound HTTP client of the channels (webhooks and Matrix).

Standard library only. Every request has a timeout (per connect and per read, not
for the whole exchange); redirects are not followed, so a delivery never silently
lands somewhere else; the body read back is bounded. HTTP error statuses are
answers, not exceptions: the caller classifies them. ``HttpError`` means there was
no answer at all (refused, unreachable, timed out, cut off).

``retries`` re-sends after a transport error, a 5xx or a 429, waiting ``Retry-After``
(or a short backoff) when that is at most ``max_wait`` seconds. The delivery loop
retries with its own backoff, so channels that run inside it keep ``retries=0`` and
hold no worker up.

``public_only=True`` (webhooks, whose URLs come from API users) refuses hosts that are
not public: loopback, private, link-local (cloud metadata), multicast, reserved and
unspecified addresses, and the metadata/localhost names. The check happens when the
connection is made, on the addresses the name resolved to, and the socket connects to
exactly the address that was checked, so a name that resolves differently a second time
(DNS rebinding) gains nothing. Proxies from the environment are not used then: the
proxy, not we, would resolve the name. A refusal is ``Refused`` (permanent).
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import socket
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


class Refused(HttpError):
    """The host is not a public address and ``public_only`` was asked: nothing was sent."""


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Names that reach the machine itself or a cloud's instance metadata service.
_BLOCKED_NAMES = {
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: IpAddress) -> str | None:
    """Why ``ip`` is not a public address webhooks may reach, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        )
        if embedded is not None:
            return address_problem(embedded)
    for problem, applies in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata lives there)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if applies:
            return f"{ip} is a {problem} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def literal_address(host: str) -> IpAddress | None:
    """``host`` as an IP address when it is one (also the legacy IPv4 forms
    ``2130706433`` and ``0x7f.1`` that resolvers accept); None for a name."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_problem(host: str) -> str | None:
    """Why ``host`` is refused without resolving it (a blocked name or a non-public literal
    address), or None. Names are checked again, resolved, when connecting."""
    name = host.lower().rstrip(".")
    if name in _BLOCKED_NAMES or name.endswith(".localhost"):
        return f"{name} is the local machine or a metadata service"
    ip = literal_address(name)
    return address_problem(ip) if ip is not None else None


def host_of(url: str) -> str:
    """The host (and port) of ``url`` alone: what may be shown of a URL that can carry a
    secret in its path or query."""
    try:
        parts = urlsplit(url)
        return parts.netloc.rpartition("@")[2] or "?"
    except ValueError:
        return "?"


class _AddressRefused(OSError):
    pass


def _public_connection(
    address: tuple[str, int], timeout: Any = None, source: Any = None
) -> socket.socket:
    """``socket.create_connection`` for public addresses only: resolve once, check every
    address, then connect to a checked address (never resolve the name again)."""
    host, port = address
    problem = host_problem(host)
    if problem:
        raise _AddressRefused(problem)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    ips = [literal_address(str(info[4][0])) for info in infos]
    for ip in ips:
        problem = "unparsable address" if ip is None else address_problem(ip)
        if problem:  # one private answer spoils the name: it is someone's trick
            raise _AddressRefused(f"{host} resolves to {problem}")
    error: OSError = OSError(f"{host} has no address")
    for ip in ips:
        try:
            return socket.create_connection((str(ip), port), timeout, source)
        except OSError as failed:
            error = failed
    raise error


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The one hook http.client offers between resolving and connecting; HTTPS then
        # wraps this socket with the host name (SNI, certificate check) as usual.
        self._create_connection = _public_connection


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_connection


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


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)  # type: ignore[attr-defined]


_opener = urllib.request.build_opener(_NoRedirects)
_public_opener = urllib.request.build_opener(
    _NoRedirects, urllib.request.ProxyHandler({}), _PublicHTTPHandler, _PublicHTTPSHandler
)


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
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    opener: urllib.request.OpenerDirector,
) -> Response:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (checked)
    request.add_header("User-Agent", USER_AGENT)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with opener.open(request, timeout=timeout) as answer:
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
        if isinstance(reason, _AddressRefused):
            raise Refused(f"{method} {host_of(url)}: refused, {reason}") from error
        timed_out = isinstance(reason, TimeoutError)
        raise HttpError(f"{method} {host_of(url)}: {reason}", timeout=timed_out) from error
    except TimeoutError as error:
        raise HttpError(f"{method} {host_of(url)}: timed out", timeout=True) from error
    except (OSError, http.client.HTTPException) as error:
        raise HttpError(f"{method} {host_of(url)}: {error!r}") from error


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = 0,
    max_wait: float = 5.0,
    public_only: bool = False,
) -> Response:
    """Send one request (plus at most ``retries`` repeats, see the module docstring).

    Returns the last response, whatever its status; raises ``HttpError`` when the last
    attempt got no answer, ``Refused`` (never retried) when ``public_only`` and the host
    is not public, and ``ValueError`` for a URL that is not http(s).
    """
    problem = check_url(url)
    if problem:
        raise ValueError(f"{url!r}: {problem}")
    opener = _opener
    if public_only:
        opener = _public_opener
        problem = host_problem(urlsplit(url).hostname or "")
        if problem:
            raise Refused(f"{method} {host_of(url)}: refused, {problem}")
    attempt = 0
    while True:
        try:
            response = _once(method, url, body, headers or {}, timeout, opener)
        except Refused:
            raise
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
