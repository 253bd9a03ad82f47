"""A person changes their own e-mail address or Matrix ID (on /me/): the new value is
used for pages only once the person proves it is theirs.

* E-mail: a signed link (valid ``CONFIRM_DAYS``) is mailed to the new address; its
  page confirms with a POST (a mail scanner's GET confirms nothing).
* Matrix: a 6-digit code is sent by DM from the bot to the new Matrix ID; the person
  enters it on /me/ (at most ``MAX_ATTEMPTS`` tries, valid ``CONFIRM_DAYS``).

Until then the person's confirmed value (``Person.email``/``matrix_id``) stays in use.
Clearing a value, and values set by an admin (admin site or an admin token), take
effect at once. A new change of the same field replaces the pending one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from escalation.channels.matrix import direct
from escalation.models import ContactChange
from oncall import mail
from rotations.models import Person

SALT = "oncall.escalation.contacts"
CONFIRM_DAYS = 1
MAX_ATTEMPTS = 5
Field = ContactChange.Field


class Invalid(Exception):
    """The link or code does not confirm anything (wrong, expired, replaced)."""


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def pending(person: Person) -> dict[str, ContactChange]:
    return {c.field: c for c in ContactChange.objects.filter(person=person)}


def request_change(person: Person, field: str, value: str) -> ContactChange | None:
    """Record ``value`` as the person's pending ``field`` and send its confirmation;
    None when nothing waits (the same value as now, or cleared at once)."""
    value = value.strip()
    if value == getattr(person, field):
        ContactChange.objects.filter(person=person, field=field).delete()
        return None
    if not value:
        setattr(person, field, "")
        person.save(update_fields=[field])
        ContactChange.objects.filter(person=person, field=field).delete()
        return None
    code = f"{secrets.randbelow(10**6):06d}" if field == Field.MATRIX_ID else ""
    change, _ = ContactChange.objects.update_or_create(
        person=person,
        field=field,
        defaults={
            "value": value,
            "code_digest": _digest(code) if code else "",
            "attempts": 0,
            "created_at": timezone.now(),
        },
    )
    try:
        if field == Field.EMAIL:
            _mail_link(change)
        else:
            _send_code(change, code)
    except Exception:
        change.delete()  # nobody got the link or code: the next try starts afresh
        raise
    return change


def _send_code(change: ContactChange, code: str) -> None:
    text = (
        f"Your confirmation code for on-call pages: {code}\n"
        f"Enter it on {settings.ONCALL_BASE_URL.rstrip('/')}/me/ within {CONFIRM_DAYS} day(s). "
        "If you did not ask for it, ignore this message."
    )
    key = f"confirm:{change.pk}:{change.created_at.timestamp()}"
    direct.send_text(change.value, text, key=key)


def confirm_url(change: ContactChange) -> str:
    token = signing.dumps({"c": change.pk, "v": change.value}, salt=SALT)
    path = reverse("web-me-confirm", kwargs={"token": token})
    return f"{settings.ONCALL_BASE_URL.rstrip('/')}{path}"


def _mail_link(change: ContactChange) -> None:
    body = (
        f"Hello {change.person.name or change.person.handle},\n\n"
        f"to receive on-call pages at {change.value}, confirm this address:\n\n"
        f"{confirm_url(change)}\n\n"
        f"The link is valid for {CONFIRM_DAYS} day(s). Until then pages keep going to "
        f"{change.person.email or 'no address'}. If you did not ask for this, ignore it.\n"
    )
    message = EmailMultiAlternatives(
        subject="[oncall] Confirm your e-mail address for pages",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[change.value],
        headers={**mail.AUTOMATIC, "Message-ID": mail.message_id(f"confirm{change.pk}")},
    )
    mail.send(message)


def read_link(token: str) -> ContactChange:
    """The change a mailed link confirms; ``Invalid`` when tampered, expired or replaced."""
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(days=CONFIRM_DAYS))
    except signing.BadSignature as error:
        raise Invalid("This link is invalid or has expired.") from error
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise Invalid("This link is invalid or has expired.")
    change = (
        ContactChange.objects.select_related("person")
        .filter(pk=data["c"], field=Field.EMAIL, value=data.get("v"))
        .first()
    )
    if change is None:
        raise Invalid("This link was replaced by a newer change, or was used already.")
    return change


def apply(change: ContactChange) -> Person:
    person = change.person
    setattr(person, change.field, change.value)
    person.save(update_fields=[change.field])
    change.delete()
    return person


def confirm_code(person: Person, code: str) -> Person:
    """Confirm the pending Matrix ID with the code the bot sent; ``Invalid`` otherwise
    (each wrong code counts; after ``MAX_ATTEMPTS`` the change must be made again)."""
    change = ContactChange.objects.filter(person=person, field=Field.MATRIX_ID).first()
    if change is None:
        raise Invalid("No Matrix ID waits for confirmation.")
    if change.created_at < timezone.now() - timedelta(days=CONFIRM_DAYS):
        change.delete()
        raise Invalid("The code has expired; enter the Matrix ID again for a new one.")
    if change.attempts >= MAX_ATTEMPTS:
        change.delete()
        raise Invalid("Too many wrong codes; enter the Matrix ID again for a new one.")
    if not hmac.compare_digest(change.code_digest, _digest(code.strip())):
        ContactChange.objects.filter(pk=change.pk).update(attempts=F("attempts") + 1)
        raise Invalid("That is not the code the bot sent.")
    change.person = person
    return apply(change)
