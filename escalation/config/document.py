"""The export: the whole configuration as one document, the same bytes every time.

Items are the API representations limited to writable fields (no feed links, ping
URLs or tokens: those are read-only and secret), references by slug or handle,
instants in UTC. Lists are sorted by natural key (``kinds``), keys alphabetically.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import yaml
from django.utils import timezone

from escalation.config import rotation_versions
from escalation.config.kinds import KINDS, Kind
from oncall.api import parsers
from rotations.selectors import versions_prefetch

Document = dict[str, list[dict[str, Any]]]


def plain(value: Any) -> Any:
    """DRF's ReturnDict/OrderedDict as plain dicts and lists (for ``yaml.safe_dump``)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def represent(kind: Kind, obj: Any, now: datetime) -> dict[str, Any]:
    """One item of the document: the API's representation, writable fields only."""
    data = kind.serializer(obj).data
    item = {name: plain(data[name]) for name in kind.writable() if name in data}
    if kind.name == "rotation":
        item["versions"] = rotation_versions.export_versions(obj, now)
    return item


def export(now: datetime | None = None) -> Document:
    now = now or timezone.now()
    document: Document = {}
    for kind in KINDS:
        rows = kind.current(now)
        if kind.name == "rotation":
            rows = rows.prefetch_related(versions_prefetch())
        items = [represent(kind, obj, now) for obj in rows]
        document[kind.plural] = sorted(items, key=kind.key)
    return document


def dump(document: Document) -> str:
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, default_flow_style=False)


class Unreadable(ValueError):
    """The text is not YAML (or JSON, which YAML reads too), or holds what JSON cannot."""


#: Values a document may expand to: aliases (``*a`` repeating ``&a``) let a small text
#: stand for an exponentially large value (a "billion laughs").
MAX_NODES = 200_000


def _bounded(value: Any) -> None:
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise Unreadable(f"The document expands to more than {MAX_NODES} values.")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):  # unquoted YAML dates and timestamps
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} values are not accepted")


def load(text: str | bytes) -> Any:
    """The document in ``text`` as JSON data (unquoted dates as ISO text); ``Unreadable``
    when it is no YAML, expands beyond ``MAX_NODES`` values, or holds what the API's
    JSON reader refuses."""
    try:
        value = yaml.safe_load(text)
        _bounded(value)
        return parsers.loads(json.dumps(value, default=_text))
    except Unreadable:
        raise
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise Unreadable(f"The document is not valid YAML{where}: {problem}.") from None
    except (RecursionError, ValueError, TypeError) as error:
        raise Unreadable(f"The document is not valid YAML: {error}.") from None
