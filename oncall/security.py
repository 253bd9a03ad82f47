"""Security headers Django's own middleware does not set (docs/operations.md).

- ``Content-Security-Policy``: everything from this origin only, so injected markup
  can neither run script nor load anything from elsewhere. ``img-src`` also allows
  ``data:`` images (Swagger UI's icons); inline ``<script>``, ``<style>`` and
  ``style=""`` are refused, so the templates use none.
- ``Cache-Control: no-store`` on HTML pages and API answers: they show incidents and
  secret feed links, which must not stay in a shared or browser cache. Responses that
  chose their own caching (the ICS feeds with ETags, the admin's ``never_cache``) and
  static files (answered by WhiteNoise before this middleware) keep theirs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; base-uri 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if "Cache-Control" not in response.headers and (
            response.headers.get("Content-Type", "").startswith("text/html")
            or request.path.startswith("/api/")
        ):
            response.headers["Cache-Control"] = "no-store"
        return response
