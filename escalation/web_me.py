"""The self-service part of ``/me/``: my time zone, e-mail address and Matrix ID (new
addresses confirmed before pages use them, ``escalation.contacts``), and my
notification rules (validated as the API validates them, ``escalation.rules``).

Thin: parse the form, call a service, say what happened, back to /me/.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from escalation import contacts, rules
from escalation.channels import matrix as matrix_channel
from escalation.channels.matrix.client import MatrixError
from oncall import mail
from rotations.models import Person, matrix_id_validator, validate_timezone
from rotations.pages import WebRequest, action

ROWS = 5  # rule rows the form offers per list
CHANNEL_CHOICES = [
    ("", "—"),
    ("email", "E-mail"),
    ("matrix_dm", "Matrix DM"),
    ("webhook", "Webhook"),
]


def _rows(document: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    found = list(document or [])
    return found + [{} for _ in range(max(ROWS - len(found), 1))]


def context(person: Person) -> dict[str, Any]:
    """What /me/'s settings sections show."""
    current = rules.render(person)
    return {
        "pending": contacts.pending(person),
        "paging": current,
        "rule_lists": [
            ("Pages", "page", _rows(current["rules"])),
            ("Re-pings", "reping", _rows(current["repings"])),
        ],
        "channel_choices": CHANNEL_CHOICES,
        "matrix_configured": matrix_channel.configured(),
    }


def _me(person: Person) -> HttpResponse:
    return redirect("web-me")


@action
def profile(request: WebRequest) -> HttpResponse:
    """``POST /me/profile/``: time zone at once; a new e-mail or Matrix ID once confirmed."""
    person = request.person
    assert person is not None  # noqa: S101 (@action lets only linked logins through)
    tz = request.POST.get("timezone", "").strip()
    if tz and tz != person.timezone:
        try:
            validate_timezone(tz)
        except ValidationError:
            messages.error(request, f"{tz!r} is not a time zone like Europe/Berlin.")
            return _me(person)
        person.timezone = tz
        person.save(update_fields=["timezone"])
        messages.success(request, f"Time zone set to {tz}.")
    email = request.POST.get("email", "").strip()
    if "email" in request.POST:
        _change(request, person, contacts.Field.EMAIL, email)
    matrix_id = request.POST.get("matrix_id", "").strip()
    if "matrix_id" in request.POST:
        _change(request, person, contacts.Field.MATRIX_ID, matrix_id)
    return _me(person)


def _change(request: WebRequest, person: Person, field: str, value: str) -> None:
    if value == getattr(person, field):
        return  # the form shows the confirmed value: a change waiting stays waiting
    if value:
        problem = _check(field, value)
        if problem:
            messages.error(request, problem)
            return
    waiting = contacts.pending(person).get(field)
    if waiting is not None and waiting.value == value:
        messages.info(request, f"{value} still waits for your confirmation.")
        return  # no second mail or DM
    try:
        change = contacts.request_change(person, field, value)
    except mail.MailError as error:
        messages.error(request, f"The confirmation mail could not be sent: {error}")
        return
    except MatrixError as error:
        messages.error(request, f"The bot could not send you the code: {error}")
        return
    if change is None:
        return
    if field == contacts.Field.EMAIL:
        messages.success(
            request, f"We mailed a confirmation link to {value}; pages use it once you confirm."
        )
    else:
        messages.success(
            request, f"The bot sent a code by DM to {value}; enter it below to use it for pages."
        )


def _check(field: str, value: str) -> str | None:
    try:
        if field == contacts.Field.EMAIL:
            validate_email(value)
        else:
            matrix_id_validator(value)
    except ValidationError:
        return f"{value!r} is not a valid {contacts.Field(field).label}."
    if field == contacts.Field.MATRIX_ID and not matrix_channel.configured():
        return "Matrix is not configured here, so the Matrix ID cannot be confirmed."
    return None


@action
def confirm_matrix(request: WebRequest) -> HttpResponse:
    """``POST /me/matrix/confirm/``: the code the bot sent by DM."""
    person = request.person
    assert person is not None  # noqa: S101
    try:
        contacts.confirm_code(person, request.POST.get("code", ""))
    except contacts.Invalid as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Matrix ID {person.matrix_id} confirmed: pages use it now.")
    return _me(person)


def _document(post: Any) -> dict[str, Any]:
    """The rules form as the API's document (checked by ``rules.parse``)."""

    def rows(prefix: str) -> list[dict[str, Any]]:
        found = []
        for i in range(ROWS * 2):
            channel = post.get(f"{prefix}-{i}-channel", "")
            if not channel:
                continue
            delay: Any = post.get(f"{prefix}-{i}-delay", "0").strip() or "0"
            found.append(
                {
                    "channel": channel,
                    "delay_seconds": int(delay) if delay.isdigit() else delay,
                    "target": post.get(f"{prefix}-{i}-target", "").strip(),
                    "important_only": bool(post.get(f"{prefix}-{i}-important")),
                }
            )
        return found

    start, end = post.get("quiet-start", "").strip(), post.get("quiet-end", "").strip()
    return {
        "rules": rows("page"),
        "repings": None if post.get("repings-same") else rows("reping"),
        "quiet_hours": {"start": start, "end": end} if start or end else None,
    }


@action
def save_rules(request: WebRequest) -> HttpResponse:
    """``POST /me/rules/``: replace my rules (no rows: the default)."""
    person = request.person
    assert person is not None  # noqa: S101
    try:
        document = rules.parse(_document(request.POST), person)
    except rules.Invalid as error:
        for path, problems in error.fields.items():
            messages.error(request, f"{path}: {' '.join(problems)}")
        return _me(person)
    rules.save(person, document)
    messages.success(request, "Notification rules saved.")
    return _me(person)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    """``/me/confirm/<token>/`` (mailed to the new address): GET asks, POST confirms.
    No login needed: the signed link proves the mailbox."""
    try:
        change = contacts.read_link(token)
    except contacts.Invalid as error:
        return render(
            request, "escalation/contact_invalid.html", {"problem": str(error)}, status=400
        )
    context = {"change": change, "person": change.person}
    if request.method == "GET":
        response = render(request, "escalation/contact_confirm.html", context)
    else:
        contacts.apply(change)
        response = render(request, "escalation/contact_done.html", context)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
