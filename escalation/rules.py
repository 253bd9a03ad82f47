"""Personal notification rules: how (and when) each person is paged.

A person's rules are an ordered list of ``(channel, delay)``: ``email`` and
``matrix_dm`` go to the person's confirmed e-mail address and Matrix ID, ``webhook``
to a URL of their own (an ntfy or Pushover URL). ``repings`` (None: the same) are
used for re-pings. During quiet hours (wall-clock times in the person's time zone)
only pages of ``important`` policies reach them; a rule marked ``important_only`` is
used only for those. A person without rules is paged as before: e-mail and a mention
in the incident's Matrix room, at once.

``parse`` validates a rules document (API and /me/ alike) with errors keyed by path
(``rules[1].delay_seconds``); ``apply`` is the engine's: it turns the recipients a
policy target resolved to into the ones the people's rules ask for.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from escalation.channels import http, matrix
from escalation.models import Incident, Notification, NotificationRules
from escalation.targets import Recipient
from rotations.models import Person

CHANNELS = ("email", "matrix_dm", "webhook")
MAX_RULES = 10
MAX_DELAY = 24 * 3600
RULE_KEYS = {"channel", "delay_seconds", "target", "important_only"}
DOCUMENT_KEYS = {"rules", "repings", "quiet_hours"}


class Invalid(Exception):
    """A rules document with problems: ``fields`` maps a path to its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("The rules are invalid.")
        self.fields = fields


@dataclass
class Document:
    rules: list[dict[str, Any]] = field(default_factory=list)
    repings: list[dict[str, Any]] | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


def _hhmm(value: object) -> time | None:
    if not isinstance(value, str):
        return None
    for layout in ("%H:%M", "%H:%M:%S"):
        try:
            return datetime.strptime(value, layout).time()  # noqa: DTZ007 (a wall-clock time)
        except ValueError:
            continue
    return None


def _rule(item: object, path: str, person: Person, errors: dict[str, list[str]]) -> dict | None:
    if not isinstance(item, dict):
        errors[path] = ["Must be an object."]
        return None
    problems = len(errors)
    for key in sorted(set(item) - RULE_KEYS):
        errors[f"{path}.{key}"] = ["Unknown field."]
    channel = item.get("channel")
    if channel not in CHANNELS:
        errors[f"{path}.channel"] = [f"Must be one of: {', '.join(CHANNELS)}."]
    delay = item.get("delay_seconds", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY:
        errors[f"{path}.delay_seconds"] = [f"Must be a whole number of seconds, 0 to {MAX_DELAY}."]
    important_only = item.get("important_only", False)
    if not isinstance(important_only, bool):
        errors[f"{path}.important_only"] = ["Must be true or false."]
    target = item.get("target") or ""
    if not isinstance(target, str):
        errors[f"{path}.target"] = ["Must be a string."]
    elif channel == "webhook":
        problem = http.check_url(target) if target else "A webhook rule needs a target URL."
        if problem:
            errors[f"{path}.target"] = [problem]
    elif target:
        errors[f"{path}.target"] = [
            "E-mail and Matrix DMs go to the person's confirmed address; change it on /me/."
        ]
    elif channel == "email" and not person.email:
        errors[f"{path}.channel"] = ["The person has no confirmed e-mail address."]
    elif channel == "matrix_dm" and not person.matrix_id:
        errors[f"{path}.channel"] = ["The person has no confirmed Matrix ID."]
    elif channel == "matrix_dm" and not matrix.configured():
        errors[f"{path}.channel"] = ["Matrix is not configured on this server."]
    if len(errors) > problems:
        return None
    return {
        "channel": channel,
        "delay_seconds": delay,
        "target": target,
        "important_only": important_only,
    }


def _rules(value: object, name: str, person: Person, errors: dict[str, list[str]]) -> list[dict]:
    if not isinstance(value, list):
        errors[name] = ["Must be a list."]
        return []
    if len(value) > MAX_RULES:
        errors[name] = [f"At most {MAX_RULES} rules."]
        return []
    found = [_rule(item, f"{name}[{i}]", person, errors) for i, item in enumerate(value)]
    return [rule for rule in found if rule is not None]


def parse(data: object, person: Person) -> Document:
    """The validated document; ``Invalid`` names every problem by its path."""
    if not isinstance(data, dict):
        raise Invalid({"non_field_errors": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - DOCUMENT_KEYS):
        errors[key] = ["Unknown field."]
    document = Document()
    if "rules" not in data:
        errors["rules"] = ["This field is required (an empty list: the default)."]
    else:
        document.rules = _rules(data["rules"], "rules", person, errors)
    if data.get("repings") is not None:
        document.repings = _rules(data["repings"], "repings", person, errors)
    quiet = data.get("quiet_hours")
    if isinstance(quiet, dict):
        for key in sorted(set(quiet) - {"start", "end"}):
            errors[f"quiet_hours.{key}"] = ["Unknown field."]
        document.quiet_start = _hhmm(quiet.get("start"))
        document.quiet_end = _hhmm(quiet.get("end"))
        for key, value in (("start", document.quiet_start), ("end", document.quiet_end)):
            if value is None:
                errors[f"quiet_hours.{key}"] = ["Must be a time HH:MM."]
        if document.quiet_start is not None and document.quiet_start == document.quiet_end:
            errors["quiet_hours.end"] = ["Must differ from the start."]
    elif quiet is not None:
        errors["quiet_hours"] = ["Must be an object {start, end} or null."]
    if errors:
        raise Invalid(errors)
    return document


def save(person: Person, document: Document) -> NotificationRules:
    found, _ = NotificationRules.objects.update_or_create(
        person=person,
        defaults={
            "rules": document.rules,
            "repings": document.repings,
            "quiet_start": document.quiet_start,
            "quiet_end": document.quiet_end,
        },
    )
    return found


def render(person: Person) -> dict[str, Any]:
    """The API's document for ``person`` (the default one when they set nothing)."""
    found = NotificationRules.objects.filter(person=person).first()
    if found is None:
        return {"rules": [], "repings": None, "quiet_hours": None}
    quiet = None
    if found.quiet_start is not None and found.quiet_end is not None:
        quiet = {
            "start": found.quiet_start.strftime("%H:%M"),
            "end": found.quiet_end.strftime("%H:%M"),
        }
    return {"rules": found.rules, "repings": found.repings, "quiet_hours": quiet}


def in_quiet_hours(start: time, end: time, tz: str, at: datetime) -> bool:
    """Whether ``at`` falls within [start, end) on the wall clock of ``tz`` (a window
    with ``start`` after ``end`` spans midnight). Wall-clock, so DST changes move the
    window with the clock, as they move the person's night."""
    try:
        zone = zoneinfo.ZoneInfo(tz or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    now = at.astimezone(zone).time()
    if start < end:
        return start <= now < end
    return now >= start or now < end


def _quiet(found: NotificationRules, person: Person, at: datetime) -> bool:
    if found.quiet_start is None or found.quiet_end is None:
        return False
    return in_quiet_hours(found.quiet_start, found.quiet_end, person.timezone, at)


def _address(rule: dict[str, Any], person: Person) -> tuple[str, str]:
    channel = str(rule["channel"])
    if channel == "email":
        return Notification.Channel.EMAIL, person.email
    if channel == "matrix_dm":
        return Notification.Channel.MATRIX_DM, person.matrix_id
    return Notification.Channel.WEBHOOK, str(rule.get("target") or "")


def planned(
    found: NotificationRules, person: Person, important: bool, kind: str
) -> list[Recipient]:
    """The recipients the person's rules ask for (None-free, possibly empty)."""
    chosen = (
        found.repings
        if kind == Notification.Kind.REPAGE and found.repings is not None
        else found.rules
    )
    out = []
    for rule in chosen or []:
        if rule.get("important_only") and not important:
            continue
        channel, address = _address(rule, person)
        if address:
            out.append(Recipient(channel, address, person, int(rule.get("delay_seconds", 0))))
    return out


@dataclass
class Applied:
    recipients: list[Recipient]
    quiet: list[Person]


def apply(recipients: list[Recipient], incident: Incident, kind: str, at: datetime) -> Applied:
    """Replace each person's default recipients by what their rules ask for; drop the
    people in quiet hours when the incident's policy is not important (``quiet``)."""
    people = {r.person.pk: r.person for r in recipients if r.person is not None}
    if not people:
        return Applied(recipients, [])
    settings = {s.person_id: s for s in NotificationRules.objects.filter(person_id__in=people)}
    important = bool((incident.policy or {}).get("important", False))
    out: list[Recipient] = []
    quiet: list[Person] = []
    done: set[int] = set()
    for recipient in recipients:
        person = recipient.person
        found = settings.get(person.pk) if person is not None else None
        if person is None or found is None:
            out.append(recipient)
            continue
        if person.pk in done:
            continue
        if not important and _quiet(found, person, at):
            done.add(person.pk)
            quiet.append(person)
            continue
        if not found.rules:
            out.append(recipient)
            continue
        done.add(person.pk)
        out.extend(planned(found, person, important, kind))
    return Applied(out, quiet)
