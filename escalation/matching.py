"""Glob matching of routes and silences (``fnmatch`` rules, case-sensitive)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

KEYS = ("source", "repo", "pipeline", "job", "branch", "subject", "result", "category")


def validate_match(match: Any) -> dict[str, list[str]]:
    """Problems of a ``match`` object by key (empty when valid)."""
    if not isinstance(match, dict):
        return {"match": ["Must be an object of glob patterns."]}
    problems: dict[str, list[str]] = {}
    for key, pattern in match.items():
        if key == "labels":
            if not isinstance(pattern, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in pattern.items()
            ):
                problems["labels"] = ["Must be an object of label name to glob pattern."]
        elif key not in KEYS:
            problems[key] = [f"Unknown key; use {', '.join(KEYS)} or labels."]
        elif not isinstance(pattern, str):
            problems[key] = ["Must be a glob pattern (a string)."]
    return problems


def matches(match: dict[str, Any], values: dict[str, Any]) -> bool:
    """True when every given key matches; an empty match matches everything."""
    for key, pattern in match.items():
        if key == "labels":
            labels = values.get("labels") or {}
            if not all(fnmatchcase(str(labels.get(k, "")), p) for k, p in pattern.items()):
                return False
        elif not fnmatchcase(str(values.get(key) or ""), pattern):
            return False
    return True
