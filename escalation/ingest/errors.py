"""The one error of the parsers: a delivery that cannot be read."""

from __future__ import annotations


class BadPayload(ValueError):
    """The delivery cannot be read: answered 400 with ``fields`` when given."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}
