"""Bearer-token authentication and scope permissions for the REST API.

A view states the scope it needs per method with ``required_scopes`` (a dict of
HTTP method or action name to scope); by default reads need ``read`` and
writes ``admin``. ``admin`` includes every other scope.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from oncall.models import ApiToken, Scope, hash_secret

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_FIELDS = ("id", "name", "scopes", "person_id", "last_used_at")


def _token(digest: str) -> ApiToken | None:
    # No per-process memory of tokens: a revocation must hold at once in every
    # process, with or without Redis. One small statement on the unique index of
    # ``digest`` per request, written out: building the ORM query cost several times
    # running it (issue 16). The person loads on first use (actions that default to it).
    query = ApiToken.objects.raw(
        f"SELECT {', '.join(TOKEN_FIELDS)} FROM {ApiToken._meta.db_table} "  # noqa: S608
        "WHERE digest = %s AND revoked_at IS NULL",
        [digest],
    )
    return next(iter(query), None)


class TokenUser:
    """The ``request.user`` of a token-authenticated request."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.pk = None

    def __str__(self) -> str:
        return f"token:{self.token.name}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[TokenUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = _token(hash_secret(header[1]))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


def request_scopes(request: Request) -> set[str]:
    if isinstance(request.auth, ApiToken):
        scopes = set(request.auth.scopes)
    elif request.user and request.user.is_authenticated:
        # Web sessions: staff configure, everyone logged in reads and acts.
        scopes = {Scope.READ, Scope.ACT}
        if request.user.is_staff:
            scopes.add(Scope.ADMIN)
    else:
        scopes = set()
    if Scope.ADMIN in scopes:
        scopes = set(Scope.values)
    return scopes


def required_scope(request: Request, view: Any) -> str:
    mapping: dict[str, str] = getattr(view, "required_scopes", {})
    action = getattr(view, "action", None)
    if action and action in mapping:
        return mapping[action]
    if request.method in mapping:
        return mapping[request.method]
    return Scope.READ if request.method in permissions.SAFE_METHODS else Scope.ADMIN


class HasScope(permissions.BasePermission):
    message = "This token lacks the scope this request needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF turns this into 401 through authenticate_header
        scope = required_scope(request, view)
        if scope in request_scopes(request):
            return True
        self.message = f"This request needs the '{scope}' scope."
        return False
