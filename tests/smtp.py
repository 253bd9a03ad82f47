"""A real SMTP server (aiosmtpd) on a free loopback port, in a thread, for tests.

    with SmtpServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
        ...
        smtp.messages          # received, as email.message.EmailMessage
        smtp.refuse["x@example.org"] = "550 5.1.1 No such user"
        smtp.stop(); ...; smtp.start()   # an outage, then the same port again

``use_smtp_server(settings)`` is the same as a generator for fixtures.
"""

from __future__ import annotations

import email
import email.policy
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.processes import free_port

# aiosmtpd logs every SMTP command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options):  # noqa: N802
        reply = self.server.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted"


class SmtpServer:
    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        #: lower-cased recipient → SMTP reply to RCPT TO, e.g. "550 5.1.1 No such user".
        self.refuse: dict[str, str] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(_Handler(self), hostname=self.host, port=self.port)
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def use_smtp_server(settings: Any) -> Iterator[SmtpServer]:
    """A running server, with pytest-django's ``settings`` pointing Django's mail at it."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = server.host
        settings.EMAIL_PORT = server.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5
        yield server
