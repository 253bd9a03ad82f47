"""Validating a document's shape, and the plan: what applying it changes.

The plan is the difference between the export before and after applying, so it
shows values as the export writes them. An update lists each changed field as
``{"old": …, "new": …}``; a rotation's versions are listed per ``effective_from``
(``"versions from 2026-12-14"``), so a new version shows from its date.
"""

from __future__ import annotations

import json
from typing import Any

from escalation.config.document import Document
from escalation.config.kinds import BY_PLURAL, KINDS

Errors = dict[str, list[str]]
Change = dict[str, Any]


class Invalid(Exception):
    """The document is not valid: ``errors`` maps YAML paths to messages."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


def check_shape(document: Any) -> dict[str, list[Any]]:
    """The document's kinds (a missing key: that kind is left alone); ``Invalid`` if the
    top level is not a mapping of known keys to lists."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise Invalid({"(document)": ["Must be a mapping of kinds to lists."]})
    errors: Errors = {}
    kinds: dict[str, list[Any]] = {}
    for key, items in document.items():
        if key not in BY_PLURAL:
            errors[str(key)] = [f"Unknown key: use {', '.join(k.plural for k in KINDS)}."]
        elif items is None:
            kinds[key] = []
        elif not isinstance(items, list):
            errors[key] = ["Must be a list."]
        else:
            kinds[key] = items
    if errors:
        raise Invalid(errors)
    return kinds


def _version_changes(old: list[Any], new: list[Any]) -> dict[str, Any]:
    before = {v["effective_from"]: v for v in old}
    after = {v["effective_from"]: v for v in new}
    return {
        f"versions from {day}": {"old": before.get(day), "new": after.get(day)}
        for day in sorted(set(before) | set(after))
        if before.get(day) != after.get(day)
    }


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        if name == "versions":
            fields.update(_version_changes(old.get(name) or [], new.get(name) or []))
        else:
            fields[name] = {"old": old.get(name), "new": new.get(name)}
    return fields


def diff(before: Document, after: Document) -> list[Change]:
    """Creates, updates and deletes from ``before`` to ``after``, in dependency order."""
    changes: list[Change] = []
    for kind in KINDS:
        old = {kind.key(item): item for item in before.get(kind.plural, [])}
        new = {kind.key(item): item for item in after.get(kind.plural, [])}
        for key in sorted(set(old) | set(new)):
            if key not in old:
                changes.append({"op": "create", "kind": kind.name, "key": key, "fields": new[key]})
            elif key not in new:
                changes.append({"op": "delete", "kind": kind.name, "key": key, "fields": old[key]})
            elif old[key] != new[key]:
                fields = _field_changes(old[key], new[key])
                changes.append({"op": "update", "kind": kind.name, "key": key, "fields": fields})
    return changes


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def text(changes: list[Change]) -> str:
    """The plan for a terminal: ``+ create``, ``~ update field: old → new``, ``- delete``."""
    if not changes:
        return "no changes\n"
    lines = []
    for change in changes:
        what = f"{change['kind']} {change['key']}"
        if change["op"] == "create":
            lines.append(f"+ {what}")
        elif change["op"] == "delete":
            lines.append(f"- {what}")
        else:
            lines.append(f"~ {what}")
            for name, values in change["fields"].items():
                lines.append(f"    {name}: {_show(values['old'])} → {_show(values['new'])}")
    counts = {op: sum(c["op"] == op for c in changes) for op in ("create", "update", "delete")}
    lines.append(
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
    )
    return "\n".join(lines) + "\n"
