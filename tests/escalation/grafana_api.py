"""A stand-in Grafana OnCall API on loopback: serves the recorded responses in
tests/fixtures/grafana-oncall/ the way the real one answers (``Authorization: <token>``,
list envelopes, absolute ``next`` links pointing at itself, ``perpage``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "grafana-oncall"
RECORDED_HOST = "https://oncall.example.com"
TOKEN = "grafana-test-token"


@dataclass
class Server:
    url: str
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, auth)


def _body(resource: str, query: dict[str, list[str]]) -> Path | None:
    perpage = query.get("perpage", [""])[0]
    page = query.get("page", ["1"])[0]
    paged = FIXTURES / f"{resource}-perpage{perpage}-page{page}.json"
    if perpage and paged.exists():
        return paged
    whole = FIXTURES / f"{resource}.json"
    return whole if whole.exists() and page == "1" else None


@contextmanager
def grafana_api(prefix: str = "", links_to_itself: bool = True) -> Iterator[Server]:
    """Serve the fixtures under ``prefix`` on a free port; ``next`` links name this server,
    or, with ``links_to_itself=False``, the recorded host (like a proxy's inside name)."""
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            state.requests.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != TOKEN:
                return self._send(401, b'{"detail": "Invalid token."}')
            resource = parts.path.removeprefix(prefix + "/api/v1/").strip("/")
            found = (
                _body(resource, parse_qs(parts.query))
                if parts.path.startswith(prefix + "/api/v1/")
                else None
            )
            if found is None or "/" in resource:
                return self._send(404, b'{"detail": "Not found."}')
            text = found.read_text(encoding="utf-8")
            if links_to_itself:
                text = text.replace(RECORDED_HOST, state.url + prefix)
            self._send(200, text.encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
