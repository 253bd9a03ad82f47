"""E-mail channel: one message per batch — one incident, or a storm digest of several.

Text and HTML bodies come from templates (``escalation/email/``); the HTML one
escapes every piece of incident data. People paged for an incident get signed action
links (claim, mute 1 h, mute 1 day, resolve, escalate now); provider contacts get forwarded
failures and recoveries worded for an outside party, without links.

Threading: each message's ``Message-ID`` is derived from its first notification row
and the install's salt (``<oncall.n{pk}.{salt}@domain>``), so a re-sent message keeps
its identity and a reset database (row numbers from 1 again) never repeats an id. A message about a
single incident carries ``In-Reply-To``/``References`` pointing at the first message
about that incident to the same address, and the same subject, so mail clients show
one thread per incident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.template.loader import render_to_string

from escalation.channels import ChannelError, Delivery
from escalation.links import action_url
from escalation.models import Incident, Installation, Notification
from oncall import mail

PERSON_KINDS = {"page", "repage", "claim_reminder", "assigned", "responder"}
FORWARD_KINDS = {"forward", "forward_resolved"}
#: (label, action, minutes) of the links a paged person gets.
LINKS = [
    ("Claim", "claim", None),
    ("Mute 1 hour", "mute", 60),
    ("Mute 1 day", "mute", 60 * 24),
    ("Resolve", "resolve", None),
    ("Escalate now", "escalate", None),
]
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")


def message_id(notification_id: int) -> str:
    return f"<oncall.n{notification_id}.{Installation.salt_value()}@{mail.domain()}>"


def subject_of(incident: Incident) -> str:
    """The thread subject: "[oncall] #17 FAILURE SovereignCloudStack/standards job"."""
    parts = [f"#{incident.pk}", incident.result, incident.repo, incident.job]
    text = " ".join(" ".join(str(p).split()) for p in parts if p)
    return f"[oncall] {text[:200]}"


def safe_url(value: str) -> str:
    """``value`` when it is an http(s) URL, which alone may become a link, else ""."""
    value = (value or "").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc and not re.search(r"\s", value):
        return value
    return ""


def _headline(notification: Notification, incident: Incident) -> str:
    kind = notification.kind
    if kind == "forward":
        return "A compliance check of your cloud failed"
    if kind == "forward_resolved":
        if incident.resolved_by_id is None:
            return "The failed compliance check of your cloud has recovered"
        return "The failed compliance check of your cloud has been resolved"
    if kind == "repage":
        return "Still unclaimed: this CI failure needs you"
    if kind == "claim_reminder":
        return "You claimed this CI failure and it is not resolved yet"
    if kind == "fallback":
        return "Nobody on call could be paged for this CI failure"
    if kind == "assigned":
        return "This CI failure was assigned to you"
    if kind == "responder":
        return "You were asked to help with this CI failure"
    return "This CI failure needs you"


def _other_recipient(row: Notification) -> str:
    if row.person is not None:
        return row.person.name
    if row.channel == "email":
        return row.address
    if row.channel == "matrix":
        return f"Matrix room {row.address}"
    return "a webhook"  # its URL may carry a secret


@dataclass
class Item:
    """One incident of a message, with everything the templates show about it."""

    notification: Notification
    incident: Incident
    headline: str
    outside: bool
    url: str
    log_url: str
    workflow_url: str
    workflow_text: str
    links: list[tuple[str, str]] = field(default_factory=list)
    others: list[str] = field(default_factory=list)


def _items(batch: list[Notification], address: str) -> list[Item]:
    first_per_incident: dict[int, Notification] = {}
    for row in sorted(batch, key=lambda n: n.pk):
        first_per_incident.setdefault(row.incident_id, row)
    others: dict[int, list[str]] = {pk: [] for pk in first_per_incident}
    rows = (
        Notification.objects.filter(incident_id__in=others)
        .exclude(status=Notification.Status.FAILED)
        .select_related("person")
        .order_by("pk")
    )
    for row in rows:
        same_address = row.channel == "email" and row.address.lower() == address.lower()
        name = _other_recipient(row)
        if not same_address and name not in others[row.incident_id]:
            others[row.incident_id].append(name)

    items = []
    for notification in first_per_incident.values():
        incident = notification.incident
        outside = notification.kind in FORWARD_KINDS
        workflow_url = safe_url(incident.workflow)
        item = Item(
            notification=notification,
            incident=incident,
            headline=_headline(notification, incident),
            outside=outside,
            url=safe_url(incident.url),
            log_url=safe_url(incident.log_url),
            workflow_url=workflow_url,
            workflow_text="" if workflow_url else incident.workflow.strip(),
            # Who else was paged is internal: a provider contact does not see it.
            others=[] if outside else others[incident.pk],
        )
        person = notification.person
        if person is not None and notification.kind in PERSON_KINDS:
            for label, action, minutes in LINKS:
                if action == "claim" and incident.state != "open":
                    continue
                if action == "escalate" and not (incident.policy or {}).get("steps"):
                    continue
                item.links.append((label, action_url(notification, person, action, minutes)))
        items.append(item)
    return items


def _thread_root(notification: Notification, address: str) -> str | None:
    """The Message-ID of the first message about this incident to ``address``, or None
    when ``notification`` is that first one."""
    root = (
        Notification.objects.filter(
            incident_id=notification.incident_id, channel="email", address__iexact=address
        )
        .order_by("pk")
        .only("pk", "external_id")
        .first()
    )
    if root is None or root.pk >= notification.pk:
        return None
    # A first notification sent in a batch went out under the batch's Message-ID.
    if _MESSAGE_ID.match(root.external_id or ""):
        return root.external_id
    return message_id(root.pk)


def _address(batch: Iterable[Notification]) -> str:
    addresses = {n.address.strip().lower() for n in batch}
    if len(addresses) != 1:
        raise ValueError("An e-mail batch goes to exactly one address.")
    address = next(iter(batch)).address.strip()
    try:
        validate_email(address)
    except ValidationError as error:
        raise ChannelError(f"Invalid e-mail address {address!r}.", permanent=True) from error
    return address


def build_message(batch: list[Notification], connection: Any = None) -> EmailMultiAlternatives:
    """The message for ``batch`` (one address; one or more incidents), not yet sent."""
    if not batch:
        raise ValueError("Nothing to send.")
    address = _address(batch)
    batch = sorted(batch, key=lambda n: n.pk)
    items = _items(batch, address)
    person = next((n.person for n in batch if n.person is not None), None)
    headers = {
        "Message-ID": message_id(batch[0].pk),
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-Oncall-Incidents": ", ".join(str(i.incident.pk) for i in items),
    }
    if len(items) == 1:
        subject = subject_of(items[0].incident)
        root = _thread_root(batch[0], address)
        if root:
            headers["In-Reply-To"] = root
            headers["References"] = root
    elif any(n.kind in PERSON_KINDS and n.person is not None for n in batch):
        subject = f"[oncall] Digest: {len(items)} incidents need you"
    else:
        subject = f"[oncall] Digest: {len(items)} incident updates"
    context = {
        "items": items,
        "subject": subject,
        "person": person,
        "tz": (person.timezone if person else "") or "UTC",
        "base_url": settings.ONCALL_BASE_URL,
        # Only storm protection puts several incidents in one message: say so.
        "burst": settings.ONCALL_EMAIL_BURST,
        "burst_window": settings.ONCALL_EMAIL_BURST_WINDOW_SECONDS,
    }
    text = render_to_string("escalation/email/notification.txt", context)
    html = render_to_string("escalation/email/notification.html", context)
    recipient = formataddr((person.name, address)) if person else address
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message


class EmailChannel:
    aggregates = True

    def send(self, batch: list[Notification]) -> Delivery:
        """Through the shared mail path (``oncall.mail``), its errors as ``ChannelError``."""
        message = build_message(batch)
        try:
            return Delivery(external_id=mail.send(message))
        except mail.MailError as error:
            raise ChannelError(str(error), permanent=error.permanent) from error
