"""The contract's error shape for every 4xx of the API.

``{"error": {"code": "...", "message": "...", "fields": {...}}}`` (fields only for
validation errors).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a machine code of its own, e.g. ``ApiError(409, "invalid_state", "...")``."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        self.status_code = status_code
        super().__init__(detail=message, code=code)
        self.error_code = code


CODES: list[tuple[type[Exception], str]] = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.ParseError, "malformed_json"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "rate_limited"),
    (exceptions.ValidationError, "invalid"),
]


# A database that is down, restarting or refusing connections: the client should
# retry (ingest: the event was not stored). Never a 500.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def unavailable() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Body, status and headers of the answer when the database is unavailable."""
    body = error_body("unavailable", "The database is unavailable; retry later.")
    return body, status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [str(item) for item in detail]
        return [_flatten(item) for item in detail]
    return [str(detail)]


def _held_by(exc: ProtectedError | RestrictedError) -> str:
    """ "Still referenced by rotation version 'core-ops from 2026-01-05' …": what to remove
    or change first."""
    held = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    names = sorted({_describe(obj) for obj in held})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"Cannot delete: still referenced by {shown}."


def _describe(obj: Any) -> str:
    """ "rotation member of rotation 'core-ops'": the rotation is what an admin edits."""
    owner = getattr(obj, "rotation", None) or getattr(
        getattr(obj, "version", None), "rotation", None
    )
    if owner is not None:
        return f"{obj._meta.verbose_name} of rotation {getattr(owner, 'slug', owner)!r}"
    return f"{obj._meta.verbose_name} {str(obj)!r}"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DATABASE_ERRORS):
        logger.error("database unavailable: %s", exc)
        body, answer, headers = unavailable()
        return Response(body, status=answer, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("too_large", "The request body is larger than 1 MiB."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, ProtectedError | RestrictedError):
        return Response(error_body("conflict", _held_by(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail))
        return response
    if isinstance(exc, Http404 | DjangoPermissionDenied):
        exc = exceptions.NotFound() if isinstance(exc, Http404) else exceptions.PermissionDenied()
    code = next((code for kind, code in CODES if isinstance(exc, kind)), "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            response.data = error_body(code, "The request is not valid.", _flatten(detail))
        else:
            messages = _flatten(detail)
            response.data = error_body(code, " ".join(messages), {"non_field_errors": messages})
        return response
    message = str(getattr(exc, "detail", exc))
    response.data = error_body(code, message)
    return response
