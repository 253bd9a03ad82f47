from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from oncall.api.errors import DATABASE_ERRORS, error_body, unavailable

logger = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    """Answer 413 before reading a body whose declared length is over the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Invalid Content-Length."), status=400)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return JsonResponse(
                error_body("too_large", "The request body is larger than 1 MiB."), status=413
            )
        return self.get_response(request)


class RefuseNulMiddleware:
    """Answer 400 to a path or query string holding U+0000 (``%00``).

    PostgreSQL cannot compare text with NUL, so a lookup or filter by such a value failed
    in the database driver (a 500) instead of finding nothing. Bodies are checked by
    ``oncall.api.parsers``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return JsonResponse(
                error_body("invalid", "The URL contains a NUL character (%00)."), status=400
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """503 with ``Retry-After`` (not 500) when a view outside the REST API (feeds, pages)
    finds the database down; API views answer the same through ``exception_handler``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.error("database unavailable: %s", exception)
        body, status, headers = unavailable()
        if request.path.startswith("/api/"):
            return JsonResponse(body, status=status, headers=headers)
        message = "The service is unavailable (database); retry later.\n"
        return HttpResponse(message, status=status, headers=headers, content_type="text/plain")
