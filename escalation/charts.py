"""Bar charts as inline SVG, drawn on the server (no script, no CDN).

Pure: takes labels and numbers, returns markup; imports nothing of the project. Only SVG
presentation attributes and CSS classes of app.css are used, never ``style=""``, since
the Content-Security-Policy (``default-src 'self'``) forbids inline styles. The viewBox
scales to the width of its container, so a chart fits a 390 px phone.
"""

from __future__ import annotations

from html import escape

WIDTH = 480
HEIGHT = 220
LEFT = 60
BOTTOM = 26
TOP = 12


def bar_chart(title: str, points: list[tuple[str, float | None]], unit: str = "") -> str:
    """One bar per point (a missing value draws no bar); ``title`` names the chart for
    screen readers, which read the table beside it for the numbers."""
    values = [v for _, v in points if v is not None]
    top = max(values, default=0) or 1
    slot = (WIDTH - LEFT) / max(len(points), 1)
    plot = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="currentColor" stroke-width="1"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" '
        f'font-size="15" fill="currentColor">{escape(_fmt(top))}{escape(unit)}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end" '
        f'font-size="15" fill="currentColor">0</text>',
    ]
    every = max(1, len(points) // 6)  # at most ~6 labels, so they do not overlap
    for n, (label, value) in enumerate(points):
        x = LEFT + n * slot
        if value is not None and value > 0:
            h = max(1.0, plot * value / top)
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#0969da">'
                f"<title>{escape(label)}: {escape(_fmt(value))}{escape(unit)}</title></rect>"
            )
        if n % every == 0:
            parts.append(
                f'<text class="tick" x="{x + slot / 2:.1f}" y="{HEIGHT - 5}" '
                f'text-anchor="middle" font-size="15" fill="currentColor">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"
