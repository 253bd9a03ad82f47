"""A real HTTP server on a free loopback port, in a thread, that records requests and
answers as programmed.

    with HttpReceiver() as receiver:
        receiver.reply(500).reply(200)                 # answers in this order, then 200s
        receiver.reply(429, headers={"Retry-After": "7"})
        receiver.reply(200, delay=2)                   # answer late (timeouts)
        ... POST to receiver.url("/hook") ...
        receiver.requests[0].json()
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(
                Recorded(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
            )
            reply = owner.replies.popleft() if owner.replies else owner.default
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (timeout tests)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: HttpReceiver


class HttpReceiver:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def reply(
        self,
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"{}",
        delay: float = 0.0,
    ) -> HttpReceiver:
        """Queue the answer to the next request that has none yet (then the default 200)."""
        with self.lock:
            self.replies.append(Reply(status, headers or {}, body, delay))
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
