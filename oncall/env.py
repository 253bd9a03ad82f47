"""Settings from the environment: one helper that fails loudly on a bad value.

Every reader returns the default when the variable is unset or empty and raises
``ImproperlyConfigured`` naming the variable when a value cannot be used, so a
typo stops the process at start-up instead of surfacing as odd behaviour later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def write_private(path: Path, text: str, *, replace: bool = True) -> bool:
    """Write ``text`` to ``path``, readable by its owner only (0600) from the first byte:
    a temporary file is created with that mode (``os.open``, never chmod afterwards) and
    then renamed into place (``replace``) or hard-linked, which fails when ``path``
    exists, so processes starting at once agree on the first one's file. Either way
    nobody ever sees a half-written file. Returns False when ``path`` existed and
    ``replace`` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def private_value(path: Path, make: str) -> str:
    """The value kept in ``path``; ``make`` is stored first when there is none yet (the
    generated ``SECRET_KEY`` of a checkout, shared by all its processes)."""
    if not path.exists():
        write_private(path, make, replace=False)
    return path.read_text().strip()


class Env:
    def __init__(self, environ: os._Environ[str] | dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def fail(self, name: str, problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{name}={self.environ.get(name)!r}: {problem}")

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.fail(name, "expected one of 1/0, true/false, yes/no, on/off")

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self.fail(name, "expected an integer") from None
        if minimum is not None and number < minimum:
            raise self.fail(name, f"must be at least {minimum}")
        return number

    def rate(self, name: str, default: str) -> str:
        """A rate limit ``N/s``, ``N/m`` or ``N/h`` (checked here, used by oncall.ratelimit)."""
        from oncall.ratelimit import parse_rate

        value = self.text(name, default)
        try:
            parse_rate(value)
        except ValueError as error:
            raise self.fail(name, str(error)) from None
        return value

    def items(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, default: str, values: tuple[str, ...]) -> str:
        """One of ``values``, compared case-insensitively and returned as spelt there."""
        value = self.raw(name)
        if value is None:
            return default
        for allowed in values:
            if value.lower() == allowed.lower():
                return allowed
        raise self.fail(name, f"expected one of {', '.join(values)}")

    def mapping(self, name: str, default: str, values: set[str]) -> dict[str, str]:
        """``key=value,key=value`` with each value one of ``values``."""
        raw = self.raw(name)
        result = {}
        for item in (default if raw is None else raw).split(","):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not item.strip():
                continue
            if not sep or not key or value not in values:
                raise self.fail(
                    name, f"expected key=value pairs with values among {', '.join(sorted(values))}"
                )
            result[key] = value
        return result

    def url(self, name: str, schemes: set[str]) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise self.fail(name, f"scheme must be one of {', '.join(sorted(schemes))}")
        if parts.scheme not in {"sqlite", "console", "locmem"} and not parts.hostname:
            raise self.fail(name, "a host is required")
        return value

    def database(self, name: str, default_sqlite: Path) -> dict[str, object]:
        """A Django DATABASES entry from ``postgres://`` or ``sqlite:///`` URLs."""
        value = self.url(name, {"postgres", "postgresql", "sqlite"})
        if value is None:
            value = f"sqlite:///{default_sqlite}"
        parts = urlsplit(value)
        if parts.scheme == "sqlite":
            path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
            if not path:
                raise self.fail(
                    name, "sqlite URLs need a path: sqlite:///relative or sqlite:////abs"
                )
            return {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": path,
                # web, worker and beat write concurrently: WAL lets readers go on,
                # IMMEDIATE transactions take the write lock up front instead of
                # failing half-way, and the timeout waits for it.
                "OPTIONS": {
                    "timeout": 20,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        try:
            port = parts.port
        except ValueError:
            raise self.fail(name, "the port is not a number") from None
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise self.fail(name, "the database name is missing")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": self.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": dict(parse_qsl(parts.query)),
        }

    def email(self, name: str) -> dict[str, object]:
        """Django e-mail settings from ``smtp://``, ``smtp+tls://``, ``smtps://``, ``console://``."""
        value = self.url(name, {"smtp", "smtp+tls", "smtps", "console", "locmem"}) or "console://"
        parts = urlsplit(value)
        if parts.scheme == "console":
            return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
        if parts.scheme == "locmem":
            return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
        try:
            port = parts.port
        except ValueError:
            raise self.fail(name, "the port is not a number") from None
        default_port = {"smtp": 25, "smtp+tls": 587, "smtps": 465}[parts.scheme]
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": port or default_port,
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
            "EMAIL_USE_SSL": parts.scheme == "smtps",
            "EMAIL_TIMEOUT": 10,
        }
