"""The one JSON reader of every request body: what Python's ``json`` accepts but the
rest of the stack cannot hold is refused here, as a 400, before any view sees it.

- Nesting deeper than ``MAX_DEPTH``: ``json`` recurses per level (a ``RecursionError``
  near 1,000), and so would every serializer and ``deepcopy`` after it.
- Numbers that overflow to ``inf`` (``1e400``) and ``NaN``/``Infinity``: jsonb and
  every consumer of the stored payload reject non-finite numbers.
- U+0000 in any string or key: PostgreSQL cannot store it in text or jsonb, and a
  lookup by it fails in the database rather than finding nothing.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

MAX_DEPTH = 32


class UnsafeJSON(ValueError):
    """The text is JSON, but holds a value the service refuses (see the module docstring)."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJSON(f"The number {text[:40]} is out of range.")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON.")


def loads(text: str | bytes) -> Any:
    """``text`` parsed as strict JSON; ValueError when it is not JSON, ``UnsafeJSON`` (a
    ValueError too) when it holds a value listed in the module docstring."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise UnsafeJSON(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
    check(value)
    return value


def check(value: Any) -> None:
    """Raise ``UnsafeJSON`` when ``value`` nests deeper than ``MAX_DEPTH`` or holds U+0000.

    Iterative, so a deep value cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnsafeJSON("The body contains a NUL character (\\u0000).")
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise UnsafeJSON(f"JSON nested deeper than {MAX_DEPTH} levels.")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with ``loads`` above: not JSON → 400 ``malformed_json``; a value
    the service refuses → 400 ``invalid`` naming the problem."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return loads(text)
        except UnsafeJSON as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from error
