"""The shared mail path: build a message with a stable ``Message-ID``, send it over one
SMTP connection, and turn SMTP trouble into ``MailError(permanent)``.

Every e-mail the service sends (pages through ``escalation.channels.email``, handoff
notices from ``rotations.notices``) goes through here, so identity and error handling
are the same everywhere. It imports nothing of the project: any layer may use it.
"""

from __future__ import annotations

import smtplib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

#: Headers that keep auto-responders from answering a machine's message.
AUTOMATIC = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}


class MailError(Exception):
    """Sending failed; ``permanent`` when retrying cannot help (a 5xx refusal)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def domain() -> str:
    """The host of ``ONCALL_BASE_URL``, else the domain of ``DEFAULT_FROM_EMAIL``."""
    host = urlsplit(getattr(settings, "ONCALL_BASE_URL", "") or "").hostname
    if host:
        return host
    sender = str(getattr(settings, "DEFAULT_FROM_EMAIL", "") or "")
    return sender.rpartition("@")[2].strip(" >") or "localhost"


def message_id(local: str) -> str:
    """``<oncall.{local}@domain>``: derived from a row, so a re-sent message keeps it."""
    return f"<oncall.{local}@{domain()}>"


def classify(error: Exception) -> MailError:
    """SMTP trouble as a ``MailError``: a recipient refused with 5xx or content rejected
    with 5xx is permanent; everything else (no connection, timeouts, 4xx,
    authentication and sender problems an operator can fix) is retried."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return MailError(f"Recipient refused: {error.recipients}", permanent=permanent)
    if isinstance(error, smtplib.SMTPDataError):
        return MailError(
            f"Message refused: {error.smtp_code} {error.smtp_error!r}",
            permanent=500 <= error.smtp_code < 600,
        )
    return MailError(f"SMTP: {error!r}", permanent=False)


def send(message: EmailMultiAlternatives) -> str:
    """Send ``message`` (which carries its ``Message-ID``); returns that id. Raises
    ``MailError`` when the server refuses it or cannot be reached."""
    try:
        with get_connection(fail_silently=False) as connection:
            message.connection = connection
            sent = message.send()
    except (smtplib.SMTPException, OSError) as error:
        raise classify(error) from error
    if not sent:
        raise MailError("The mail backend sent nothing.", permanent=False)
    return str(message.extra_headers["Message-ID"])
