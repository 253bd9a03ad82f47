"""Workflows rendered as sanitized HTML (escalation.markup), for the web UI and chat."""

from __future__ import annotations

import pytest

from escalation.markup import workflow_html


def test_a_bare_url_becomes_a_safe_link():
    assert workflow_html("https://docs.example.org/runbooks/standards") == (
        '<p><a href="https://docs.example.org/runbooks/standards" '
        'rel="noopener noreferrer nofollow">https://docs.example.org/runbooks/standards</a></p>'
    )


def test_markdown_is_rendered():
    html = workflow_html(
        "# Runbook\n\n1. Check the [logs](https://logs.example.org/).\n"
        "2. **Retry** the job.\n\n```\nzuul-client enqueue\n```"
    )
    assert "<h1>Runbook</h1>" in html
    assert '<a href="https://logs.example.org/" rel="noopener noreferrer nofollow">logs</a>' in html
    assert "<strong>Retry</strong>" in html
    assert "<pre><code>zuul-client enqueue\n</code></pre>" in html


def test_urls_in_text_are_linked_but_not_in_code_nor_trailing_punctuation():
    html = workflow_html("See https://a.example.org/x, then run `curl https://b.example.org/y`.")
    assert '<a href="https://a.example.org/x" rel="noopener noreferrer nofollow">' in html
    assert "<code>curl https://b.example.org/y</code>" in html


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("<script>alert(1)</script>hi", "alert"),
        ('<img src="x" onerror="alert(1)">', "onerror"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<a href="https://x.example.org" onclick="steal()">x</a>', "onclick"),
        ('<iframe src="https://evil.example.org"></iframe>', "iframe"),
        ("<style>body{display:none}</style>", "display"),
        ('<p style="position:fixed">x</p>', "style"),
    ],
)
def test_dangerous_html_is_removed(text, gone):
    assert gone not in workflow_html(text)


def test_blank_workflow_is_empty():
    assert workflow_html("") == ""
    assert workflow_html("  \n ") == ""


def test_html_special_characters_in_text_are_escaped():
    assert workflow_html("if a < b && c > d") == "<p>if a &lt; b &amp;&amp; c &gt; d</p>"
