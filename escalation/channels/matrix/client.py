"""A small Matrix Client-Server API (v3) client over the channels' one HTTP client.

Only what the bot needs: send events (with a transaction id, so a retried send
never posts twice), read and write room state, resolve aliases, join, and long-poll
``/sync``. A 429 is retried after the server's delay (``retry_after_ms`` in the body,
or ``Retry-After``) when that is short; a longer delay raises ``MatrixError`` with
``retry_after`` so the delivery loop reschedules instead of holding a worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any
from urllib.parse import quote, urlencode

from escalation.channels import http

log = logging.getLogger(__name__)

API = "/_matrix/client/v3"
MAX_INLINE_WAIT = 10.0  # seconds a 429 may hold the caller before it gives up
RATE_LIMIT_RETRIES = 3


class MatrixError(Exception):
    """A request failed. ``permanent``: retrying the same request cannot help
    (forbidden, unknown room, bad token); otherwise retry, not before ``retry_after``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        errcode: str = "",
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode
        self.permanent = permanent
        self.retry_after = retry_after


def txn_id(key: str) -> str:
    """A URL-safe transaction id for an idempotency key (same key, same id)."""
    return "oncall-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _q(value: str) -> str:
    return quote(value, safe="")


class MatrixClient:
    def __init__(self, homeserver: str, access_token: str, *, timeout: float = 10.0) -> None:
        self.base = homeserver.rstrip("/")
        self.token = access_token
        self.timeout = timeout
        self._aliases: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One API call; the decoded JSON answer, or ``MatrixError``."""
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = http.request(
                    method, url, body=data, headers=headers, timeout=timeout or self.timeout
                )
            except http.HttpError as error:
                raise MatrixError(str(error)) from error
            answer = _json(response)
            if response.ok:
                return answer
            errcode = str(answer.get("errcode", ""))
            error_text = f"{method} {path}: {response.status} {errcode} {answer.get('error', '')}"
            if response.status == 429:
                wait = _retry_after(response, answer)
                if wait <= MAX_INLINE_WAIT and attempt < RATE_LIMIT_RETRIES:
                    log.info("matrix: rate limited on %s, waiting %.2f s", path, wait)
                    time.sleep(wait)
                    continue
                raise MatrixError(error_text, status=429, errcode=errcode, retry_after=wait)
            permanent = 400 <= response.status < 500 and response.status not in (408, 429)
            raise MatrixError(
                error_text, status=response.status, errcode=errcode, permanent=permanent
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # Rooms and events --------------------------------------------------------

    def whoami(self) -> str:
        return str(self.call("GET", f"{API}/account/whoami")["user_id"])

    def room_id(self, room: str) -> str:
        """The room id of a room id or alias (``#ops:example.org``), aliases cached."""
        if not room.startswith("#"):
            return room
        if room not in self._aliases:
            answer = self.call("GET", f"{API}/directory/room/{_q(room)}")
            self._aliases[room] = str(answer["room_id"])
        return self._aliases[room]

    def send(self, room_id: str, content: dict[str, Any], key: str, kind: str = "") -> str:
        """Send an event (``m.room.message`` unless ``kind``); the same ``key`` never posts
        twice (the homeserver answers a repeated transaction id with the first event)."""
        event_type = kind or "m.room.message"
        path = f"{API}/rooms/{_q(room_id)}/send/{_q(event_type)}/{txn_id(key)}"
        return str(self.call("PUT", path, content)["event_id"])

    def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        """A state event's content; None when the room has none."""
        try:
            return self.call(
                "GET", f"{API}/rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
            )
        except MatrixError as error:
            if error.errcode == "M_NOT_FOUND":
                return None
            raise

    def put_state(
        self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = ""
    ) -> str:
        path = f"{API}/rooms/{_q(room_id)}/state/{_q(event_type)}/{_q(state_key)}"
        return str(self.call("PUT", path, content)["event_id"])

    def join(self, room: str) -> str:
        return str(self.call("POST", f"{API}/join/{_q(room)}", {})["room_id"])

    # Direct messages -------------------------------------------------------------

    def create_direct_room(self, user_id: str) -> str:
        """A new private room marked as a direct chat with ``user_id``, who is invited."""
        body = {"is_direct": True, "invite": [user_id], "preset": "trusted_private_chat"}
        return str(self.call("POST", f"{API}/createRoom", body)["room_id"])

    def account_data(self, user_id: str, event_type: str) -> dict[str, Any]:
        """The user's global account data of ``event_type``; {} when there is none."""
        try:
            return self.call("GET", f"{API}/user/{_q(user_id)}/account_data/{_q(event_type)}")
        except MatrixError as error:
            if error.errcode == "M_NOT_FOUND":
                return {}
            raise

    def put_account_data(self, user_id: str, event_type: str, content: dict[str, Any]) -> None:
        self.call("PUT", f"{API}/user/{_q(user_id)}/account_data/{_q(event_type)}", content)

    # Sync ----------------------------------------------------------------------

    def create_filter(self, user_id: str, definition: dict[str, Any]) -> str:
        answer = self.call("POST", f"{API}/user/{_q(user_id)}/filter", definition)
        return str(answer["filter_id"])

    def sync(self, since: str | None, filter_id: str, timeout_ms: int) -> dict[str, Any]:
        query: dict[str, Any] = {"filter": filter_id, "timeout": timeout_ms}
        if since:
            query["since"] = since
        return self.call(
            "GET", f"{API}/sync", query=query, timeout=self.timeout + timeout_ms / 1000
        )

    def messages(
        self, room_id: str, start: str, end: str | None, event_filter: dict[str, Any]
    ) -> dict[str, Any]:
        """A page of room events backwards from ``start`` (to ``end``), for sync gaps."""
        query: dict[str, Any] = {
            "from": start,
            "dir": "b",
            "limit": 100,
            "filter": json.dumps(event_filter),
        }
        if end:
            query["to"] = end
        return self.call("GET", f"{API}/rooms/{_q(room_id)}/messages", query=query)


def _json(response: http.Response) -> dict[str, Any]:
    try:
        value = json.loads(response.body or b"{}")
    except ValueError:
        return {"error": response.text()[:200]}
    return value if isinstance(value, dict) else {}


def _retry_after(response: http.Response, answer: dict[str, Any]) -> float:
    """The server's delay: ``retry_after_ms`` in the body (Matrix), else ``Retry-After``."""
    millis = answer.get("retry_after_ms")
    if isinstance(millis, int | float) and millis >= 0:
        return float(millis) / 1000
    return response.retry_after if response.retry_after is not None else 1.0
