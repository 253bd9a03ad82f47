"""Escalation policy steps and targets (docs/api.md): validation and who a target reaches."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from escalation.channels import http
from escalation.models import Contact
from rotations.models import Person, Rotation, Team

TARGET_FIELDS: dict[str, dict[str, type]] = {
    "oncall": {"rotation": str, "role": str},
    "repo_oncall": {"role": str},
    "person": {"person": str},
    "team": {"team": str},
    "contact": {"contact": str},
    "email": {"address": str},
    "matrix_room": {"room": str},
    "webhook": {"url": str},
}
ROLES = ("primary", "backup")


def _target_problems(target: Any) -> list[str]:
    if not isinstance(target, dict) or target.get("type") not in TARGET_FIELDS:
        return [f"A target needs a type: one of {', '.join(TARGET_FIELDS)}."]
    kind = target["type"]
    problems = [
        f"'{name}' is required."
        for name in TARGET_FIELDS[kind]
        if not isinstance(target.get(name), str) or not target.get(name)
    ]
    if problems:
        return problems
    if "role" in target and target["role"] not in ROLES:
        return ["role must be primary or backup."]
    checks = {
        "oncall": lambda: Rotation.objects.filter(slug=target["rotation"]).exists(),
        "person": lambda: Person.objects.filter(handle=target["person"]).exists(),
        "team": lambda: Team.objects.filter(slug=target["team"]).exists(),
        "contact": lambda: Contact.objects.filter(slug=target["contact"]).exists(),
    }
    if kind in checks and not checks[kind]():
        name = next(iter(TARGET_FIELDS[kind]))
        return [f"Unknown {kind if kind != 'oncall' else 'rotation'} {target[name]!r}."]
    try:
        if kind == "email":
            EmailValidator()(target["address"])
        if kind == "webhook":
            URLValidator(schemes=["http", "https"])(target["url"])
    except ValidationError as error:
        return list(error.messages)
    if kind == "webhook" and not settings.ONCALL_WEBHOOK_ALLOW_PRIVATE:
        # Names are checked again, resolved, at send time (channels/http.py).
        problem = http.host_problem(urlsplit(target["url"]).hostname or "")
        if problem:
            return [f"Webhooks may only reach public addresses: {problem}."]
    return []


def validate_steps(steps: Any) -> list[str]:
    """Problems of a policy's ``steps`` (empty when valid)."""
    if not isinstance(steps, list) or not steps:
        return ["A list of at least one step."]
    problems = []
    for i, step in enumerate(steps, start=1):
        if not isinstance(step, dict):
            problems.append(f"step {i}: must be an object.")
            continue
        for name in ("wait_seconds", "repeat", "repeat_every_seconds"):
            value = step.get(name, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"step {i}: {name} must be a whole number ≥ 0.")
        if step.get("repeat", 0) and not step.get("repeat_every_seconds"):
            problems.append(f"step {i}: repeat needs repeat_every_seconds > 0.")
        notify = step.get("notify")
        if not isinstance(notify, list) or not notify:
            problems.append(f"step {i}: notify must list at least one target.")
            continue
        for j, target in enumerate(notify, start=1):
            problems.extend(f"step {i}, target {j}: {p}" for p in _target_problems(target))
        unknown = set(step) - {"wait_seconds", "notify", "repeat", "repeat_every_seconds"}
        if unknown:
            problems.append(f"step {i}: unknown keys {', '.join(sorted(unknown))}.")
    return problems
