"""Workflows (runbooks) as HTML: Markdown, then sanitized.

A workflow is text an admin or a sender (Alertmanager's ``runbook_url``) wrote: a bare
URL or Markdown. ``workflow_html`` is used by the web UI and by chat channels (Matrix
``formatted_body``), so it depends on nothing of Django's templates. Its output keeps
only tags and attributes that both show well; links get ``rel`` so a runbook page
cannot reach back, and only http(s) and mailto links survive.
"""

from __future__ import annotations

import re

import markdown
import nh3

TAGS = {
    "a",
    "p",
    "br",
    "hr",
    "strong",
    "b",
    "em",
    "i",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
# A bare URL (not already inside Markdown link or autolink syntax) becomes an autolink.
BARE_URL = re.compile(r"(?<![<(\[\"'=])\bhttps?://[^\s<>()\[\]\"']+[^\s<>()\[\]\"'.,;:!?]")
# Code (fenced blocks and inline spans) is left as written.
CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.DOTALL)


def _autolink(text: str) -> str:
    parts = CODE.split(text)
    return "".join(
        part if i % 2 else BARE_URL.sub(lambda m: f"<{m.group(0)}>", part)
        for i, part in enumerate(parts)
    )


def workflow_html(text: str) -> str:
    """Sanitized HTML of a workflow (Markdown, bare URLs linked); "" for blank text."""
    if not text or not text.strip():
        return ""
    html = markdown.markdown(
        _autolink(text),
        extensions=["fenced_code", "tables", "sane_lists"],
        output_format="html",
    )
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
