"""A small iCalendar (RFC 5545) writer for the feeds: content lines, TEXT escaping,
folding. Pure, no database.

The feeds render hundreds of events per request; the icalendar library spends most of
that time building and folding objects. This writes the same bytes directly (the test
compares it with icalendar's output on awkward names) and leaves parsing to the readers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

FOLD_AT = 75  # octets per line, CRLF excluded (RFC 5545, 3.1)


def text(value: str) -> str:
    """A TEXT value escaped (RFC 5545, 3.3.11): backslash, ``;``, ``,``, line breaks."""
    return (
        value.replace(r"\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\r\n", r"\n")
        .replace("\n", r"\n")
        .replace("\r", r"\n")
    )


def utc(moment: datetime) -> str:
    """A DATE-TIME in UTC form, whole seconds: ``20260105T080000Z``."""
    t = moment.astimezone(UTC)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def fold(line: str) -> str:
    """``line`` folded into pieces shorter than 75 octets, continued with CRLF and a
    space; an escape's backslash is never left at the end of a piece (readers differ
    on it). Most lines are short ASCII and come back as they are."""
    if len(line) < FOLD_AT and (line.isascii() or len(line.encode()) < FOLD_AT):
        return line
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode())
        if current and size + width >= FOLD_AT:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                pieces.append("".join(current))
                current, size = [carried], len(carried.encode())
            else:
                pieces.append("".join(current))
                current, size = [], 0
        current.append(char)
        size += width
    if current:
        pieces.append("".join(current))
    return "\r\n ".join(pieces)


def lines(content: Iterable[str]) -> bytes:
    """Content lines (already escaped) as the body: folded, CRLF after each, UTF-8."""
    return "".join(f"{fold(line)}\r\n" for line in content).encode()
