"""gzip for HTML pages (docs/operations.md, "Compression and BREACH").

Django's ``GZipMiddleware``, limited to ``text/html``: the pages are large and repetitive
(the incident list is ~280 KiB for 100 rows, ~10x smaller packed). The API's JSON and
the ICS feeds stay as they are. BREACH: a compressed page that reflects the attacker's
input next to a secret leaks the secret through its length. Django masks the CSRF token
afresh in every response and pads each gzip body with up to 100 random bytes ("Heal the
Breach"); pages that show another long-lived secret (a feed link) opt out
with ``uncompressed(response)``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

UNCOMPRESSED = "_oncall_uncompressed"
Response = TypeVar("Response", bound=HttpResponseBase)


class HtmlGZipMiddleware(GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> Any:
        html = response.get("Content-Type", "").startswith("text/html")
        if not html or getattr(response, UNCOMPRESSED, False):
            return response
        return super().process_response(request, response)


def uncompressed(response: Response) -> Response:
    """Mark a page that shows a secret besides the CSRF token: never gzip it."""
    setattr(response, UNCOMPRESSED, True)
    return response
