"""A real Matrix homeserver (Synapse) for the tests, and a small client acting as a person.

Synapse lives in its own virtual environment, made (once, cached) by scripts/synapse-env.sh.
``Synapse`` writes a throwaway config (SQLite, one plain HTTP listener on loopback, no
federation, rate limits raised out of the way), runs the homeserver as a child process and
registers users with the shared secret. ``MatrixUser`` speaks the client-server API with the
standard library only, the way a person's client would.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.processes import ROOT, free_port, wait_until

SERVER_NAME = "oncall.test"
ENV_SCRIPT = ROOT / "scripts" / "synapse-env.sh"
UNLIMITED = {"per_second": 1000, "burst_count": 1000}
Event = dict[str, Any]


class SynapseError(Exception):
    """Synapse could not be installed, configured or started."""


class MatrixError(Exception):
    """A non-2xx answer from the homeserver: ``status``, ``body`` (parsed JSON or text)."""

    def __init__(self, method: str, url: str, status: int, body: Any, headers: dict[str, str]):
        self.status, self.body, self.headers = status, body, headers
        self.errcode = body.get("errcode") if isinstance(body, dict) else None
        super().__init__(f"{method} {url} -> {status}: {body}")


def call(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30
) -> dict:
    """One JSON request; the parsed answer, or ``MatrixError`` when it is not a 2xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http only)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode(errors="replace")
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw
        raise MatrixError(method, url, exc.code, parsed, dict(exc.headers.items())) from None


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def describe(event: Event) -> str:
    content = event.get("content", {})
    detail = content.get("body") or content.get("m.relates_to") or content.get("topic") or ""
    return f"{event.get('event_id')} {event.get('type')} from {event.get('sender')}: {detail}"


class MatrixUser:
    """A person on the homeserver: ``user_id``, ``access_token`` and what their client does."""

    def __init__(self, url: str, user_id: str, access_token: str, device_id: str = ""):
        self.url, self.user_id, self.access_token = url, user_id, access_token
        self.device_id = device_id

    def __repr__(self) -> str:
        return f"<MatrixUser {self.user_id}>"

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> dict:
        """``path`` below the server, e.g. ``/_matrix/client/v3/joined_rooms``."""
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        url = f"{self.url}{path}" + (f"?{params}" if params else "")
        return call(method, url, body, self.access_token)

    def client(self, method: str, path: str, body: Any = None, **query: Any) -> dict:
        return self.request(method, f"/_matrix/client/v3{path}", body, **query)

    def create_room(
        self,
        name: str | None = None,
        *,
        invite: Iterable[str] = (),
        topic: str | None = None,
        public: bool = False,
        power_levels: dict[str, int] | None = None,
    ) -> str:
        """A new room (preset private_chat: invite only; public_chat: anyone may join).

        ``invite`` users get an invite they accept with ``join``; ``power_levels`` raises
        others, e.g. ``{bot.user_id: 50}`` so a bot may set the topic (invitees have 0).
        """
        body: dict[str, Any] = {"preset": "public_chat" if public else "private_chat"}
        body["invite"] = list(invite)
        if name is not None:
            body["name"] = name
        if topic is not None:
            body["topic"] = topic
        if power_levels:
            body["power_level_content_override"] = {"users": dict(power_levels)}
        return self.client("POST", "/createRoom", body)["room_id"]

    def join(self, room_id_or_alias: str) -> str:
        return self.client("POST", f"/join/{quote(room_id_or_alias)}", {})["room_id"]

    def invite(self, room_id: str, user_id: str) -> None:
        self.client("POST", f"/rooms/{quote(room_id)}/invite", {"user_id": user_id})

    def send(self, room_id: str, event_type: str, content: dict) -> str:
        path = f"/rooms/{quote(room_id)}/send/{quote(event_type)}/{uuid.uuid4().hex}"
        return self.client("PUT", path, content)["event_id"]

    def send_text(self, room_id: str, body: str) -> str:
        return self.send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})

    def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return self.send(room_id, "m.reaction", {"m.relates_to": relation})

    def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        path = f"/rooms/{quote(room_id)}/redact/{quote(event_id)}/{uuid.uuid4().hex}"
        return self.client("PUT", path, {"reason": reason} if reason else {})["event_id"]

    def messages(self, room_id: str, limit: int = 100) -> list[Event]:
        """The room's last ``limit`` timeline events, newest first (``dir=b``)."""
        path = f"/rooms/{quote(room_id)}/messages"
        return self.client("GET", path, dir="b", limit=limit)["chunk"]

    def event(self, room_id: str, event_id: str) -> Event:
        return self.client("GET", f"/rooms/{quote(room_id)}/event/{quote(event_id)}")

    def relations(self, room_id: str, event_id: str, rel_type: str | None = None) -> list[Event]:
        """Events relating to ``event_id`` (reactions, edits...), newest first."""
        path = f"/_matrix/client/v1/rooms/{quote(room_id)}/relations/{quote(event_id)}"
        if rel_type:
            path += f"/{quote(rel_type)}"
        return self.request("GET", path, limit=100)["chunk"]

    def state(self, room_id: str, event_type: str, state_key: str = "") -> dict:
        """The content of a state event; ``MatrixError`` (404) when it is not set."""
        return self.client("GET", f"/rooms/{quote(room_id)}/state/{event_type}/{state_key}")

    def set_state(self, room_id: str, event_type: str, content: dict, state_key: str = "") -> str:
        path = f"/rooms/{quote(room_id)}/state/{event_type}/{state_key}"
        return self.client("PUT", path, content)["event_id"]

    def topic(self, room_id: str) -> str:
        try:
            return self.state(room_id, "m.room.topic").get("topic", "")
        except MatrixError as exc:
            if exc.status == 404:
                return ""
            raise

    def set_topic(self, room_id: str, text: str) -> str:
        return self.set_state(room_id, "m.room.topic", {"topic": text})

    def wait_for(
        self, room_id: str, predicate: Callable[[Event], object], timeout: float = 15
    ) -> Event:
        """Poll the room until an event matches; the earliest match among the last 100."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.messages(room_id)
            for event in reversed(seen):
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                last = "\n".join(describe(event) for event in reversed(seen[:15]))
                raise AssertionError(
                    f"no matching event in {room_id} within {timeout}s; last events:\n{last}"
                )
            time.sleep(0.2)


class Synapse:
    """A throwaway homeserver: ``start()``, ``register()`` people, ``stop()``."""

    server_name = SERVER_NAME

    def __init__(self, venv: Path, workdir: Path):
        self.venv, self.dir = venv, workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "homeserver.yaml"
        self.log_path = workdir / "homeserver.log"
        self.output_path = workdir / "output.log"
        self.shared_secret = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self._users: dict[str, tuple[MatrixUser, bool]] = {}

    @staticmethod
    def install() -> Path:
        """The Synapse virtual environment, installed by scripts/synapse-env.sh if missing."""
        argv = ["bash", str(ENV_SCRIPT)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise SynapseError(
                f"{ENV_SCRIPT.name} failed (exit {done.returncode}):\n{done.stderr.strip()}"
            )
        return Path(lines[-1])

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{SERVER_NAME}"

    def write_config(self) -> None:
        # YAML is a superset of JSON: the files are written with json, no YAML library needed.
        log_config = {
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (self.dir / "log.config").write_text(json.dumps(log_config, indent=2))
        listener = {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }
        config = {
            "server_name": SERVER_NAME,
            "public_baseurl": f"{self.url}/",
            "pid_file": str(self.dir / "homeserver.pid"),
            "listeners": [listener],
            "database": {"name": "sqlite3", "args": {"database": str(self.dir / "homeserver.db")}},
            "log_config": str(self.dir / "log.config"),
            "media_store_path": str(self.dir / "media_store"),
            "signing_key_path": str(self.dir / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "enable_registration": False,
            "report_stats": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "use_presence": False,
            "enable_metrics": False,
            "url_preview_enabled": False,
            "bcrypt_rounds": 4,  # password hashing in milliseconds, not a quarter second
            "rc_message": UNLIMITED,
            "rc_registration": UNLIMITED,
            "rc_registration_token_validity": UNLIMITED,
            "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
            "rc_admin_redaction": UNLIMITED,
            "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
            "rc_joins_per_room": UNLIMITED,
            "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
            "rc_third_party_invite": UNLIMITED,
            "rc_3pid_validation": UNLIMITED,
            "rc_key_requests": UNLIMITED,
            "rc_media_create": UNLIMITED,
            "rc_presence": {"per_user": UNLIMITED},
            "rc_delayed_event_mgmt": UNLIMITED,
            "rc_room_creation": UNLIMITED,
            "rc_reports": UNLIMITED,
            "rc_user_directory": UNLIMITED,
            "rc_profile": UNLIMITED,
            # Synapse keeps a /sync answer for 2 minutes by default and hands it to the same
            # request again: every test's listener makes the same first-start request
            # (same bot, same filter, no since), so it would get an earlier test's position
            # and replay that test's room events.
            "caches": {"sync_response_cache_duration": 0},
        }
        # No signing key is written: the homeserver generates missing files (the key) when it
        # loads its config, on every start; a separate --generate-keys run costs 2 s more.
        self.config_path.write_text(json.dumps(config, indent=2))

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def _run(self, *argv: object) -> str:
        done = subprocess.run(
            [str(arg) for arg in argv], cwd=self.dir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SynapseError(f"{argv[0]} ... failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        started = time.monotonic()
        self.write_config()
        argv = [str(self.python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)]
        with self.output_path.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT)

        def answers() -> bool:
            if self.proc and self.proc.poll() is not None:
                raise SynapseError(f"Synapse exited ({self.proc.returncode}) while starting")
            try:
                return "versions" in call("GET", f"{self.url}/_matrix/client/versions", timeout=2)
            except (OSError, MatrixError):
                return False

        try:
            wait_until(answers, timeout, f"Synapse to answer on {self.url}")
        except (AssertionError, SynapseError) as exc:
            self.stop()
            raise SynapseError(f"{exc}\n{self.log_tail()}") from None
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, chars: int = 4000) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            if path.exists() and path.read_text(errors="replace").strip():
                text = path.read_text(errors="replace")[-chars:]
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(Synapse wrote no log)"

    def register(self, localpart: str, *, admin: bool = False) -> MatrixUser:
        """The user ``@localpart:oncall.test``, registered once per session, logged in."""
        if localpart in self._users:
            user, is_admin = self._users[localpart]
            if is_admin != admin:
                raise ValueError(f"{localpart} was registered with admin={is_admin}")
            return user
        password = f"pw-{localpart}-{self.shared_secret[:8]}"
        script = self.venv / "bin" / "register_new_matrix_user"
        self._run(script, "-u", localpart, "-p", password, "--admin" if admin else "--no-admin",
                  "--exists-ok", "-c", self.config_path, self.url)  # fmt: skip
        login = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": "oncall tests",
        }
        answer = call("POST", f"{self.url}/_matrix/client/v3/login", login)
        user = MatrixUser(self.url, answer["user_id"], answer["access_token"], answer["device_id"])
        self._users[localpart] = (user, admin)
        return user

    @property
    def admin(self) -> MatrixUser:
        """A server admin, for the admin API (registered on first use)."""
        return self.register("synapse-admin", admin=True)

    def override_ratelimit(self, user_id: str, messages_per_second: int, burst_count: int) -> dict:
        """Give ``user_id`` its own message rate limit (0 and 0 mean: not limited at all)."""
        path = f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit"
        body = {"messages_per_second": messages_per_second, "burst_count": burst_count}
        return self.admin.request("POST", path, body)

    def reset_ratelimit(self, user_id: str) -> None:
        """Back to the server's (raised) limits."""
        path = f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit"
        self.admin.request("DELETE", path)
