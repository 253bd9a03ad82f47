"""OpenID Connect sign-in, the protocol half (docs/web.md, "Sign in with your identity
provider"): discovery, the authorization request, the code exchange and the checks on
the ID token. Who the login then is (a person, staff, team lead) is
``rotations.sign_in``'s business; the pages are ``rotations.oidc_views``.

The flow is the authorization code flow with PKCE (S256), ``state`` and ``nonce``:

- ``begin`` makes the provider's authorization URL and the secrets to keep in the
  session until the browser comes back;
- ``finish`` checks the returned ``state``, exchanges the code at the token endpoint
  (the client authenticates with its secret), verifies the ID token and returns its
  claims, merged with the userinfo endpoint's (same ``sub``) where the provider has one.

The ID token is accepted only when it is signed with RS256 by a key of the provider's
JWKS, ``iss`` is exactly ``OIDC_ISSUER``, ``aud`` contains ``OIDC_CLIENT_ID`` (and
``azp`` names it when there are several audiences), it has not expired and its
``nonce`` is the one this browser's request sent. Anything else raises ``OidcError``
with a message for the refusal page; nothing is signed in.

The discovery document (``OIDC_ISSUER`` + ``/.well-known/openid-configuration``) is
cached for ``DISCOVERY_SECONDS``; its ``issuer`` must equal ``OIDC_ISSUER`` exactly.
The JWKS is fetched on first use and again when a token names a key it does not know
(the provider rotated its keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 10
# Clock skew tolerated on exp/iat/nbf between this server and the provider.
LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256"]

_jwks_clients: dict[str, jwt.PyJWKClient] = {}
_jwks_lock = threading.Lock()


class OidcError(Exception):
    """The sign-in is refused; the message says why, for the person at the browser."""


@dataclass(frozen=True)
class Client:
    """This site as a client of the provider (from settings, see ``client``)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: str


@dataclass(frozen=True)
class Pending:
    """What the session keeps between ``begin`` and ``finish``."""

    state: str
    nonce: str
    verifier: str


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_name() -> str:
    """The name on the login page's button: OIDC_PROVIDER_NAME, else the issuer's host."""
    if settings.OIDC_PROVIDER_NAME:
        return str(settings.OIDC_PROVIDER_NAME)
    return urllib.parse.urlsplit(settings.OIDC_ISSUER or "").hostname or "your identity provider"


def client(redirect_path: str) -> Client:
    return Client(
        issuer=settings.OIDC_ISSUER,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        redirect_uri=settings.ONCALL_BASE_URL + redirect_path,
        scopes=settings.OIDC_SCOPES,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _http_json(
    url: str,
    what: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """GET (or POST ``form`` to) an http(s) URL of the provider; its JSON object."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise OidcError(f"The provider's {what} URL is not http(s): {url}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=urllib.parse.urlencode(form).encode() if form is not None else None,
        headers={"Accept": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
            body = response.read(1024 * 1024)
    except urllib.error.HTTPError as error:
        detail = error.read(2000).decode("utf-8", "replace")
        log.warning("OIDC %s at %s answered %s: %s", what, url, error.code, detail)
        raise OidcError(
            f"The identity provider refused the {what} request (HTTP {error.code})."
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise OidcError(f"The identity provider cannot be reached ({what}: {error}).") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise OidcError(f"The identity provider's {what} answer is not JSON.") from None
    if not isinstance(data, dict):
        raise OidcError(f"The identity provider's {what} answer is not a JSON object.")
    return data


def discovery(issuer: str) -> dict[str, Any]:
    """The provider's metadata, cached; refuses a document naming another issuer."""
    key = "oidc-discovery:" + hashlib.sha256(issuer.encode()).hexdigest()
    found = cache.get(key)
    if isinstance(found, dict):
        return found
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    metadata = _http_json(url, "discovery")
    if metadata.get("issuer") != issuer:
        raise OidcError(
            f"The identity provider calls itself {metadata.get('issuer')!r}, "
            f"but this site trusts {issuer!r} (OIDC_ISSUER)."
        )
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(field), str):
            raise OidcError(f"The identity provider's discovery document has no {field}.")
    cache.set(key, metadata, DISCOVERY_SECONDS)
    return metadata


def begin(config: Client) -> tuple[str, Pending]:
    """The URL to send the browser to, and what to keep until it comes back."""
    metadata = discovery(config.issuer)
    pending = Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
    )
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": config.scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _b64(hashlib.sha256(pending.verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
    )
    endpoint = metadata["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", pending


def exchange_code(config: Client, code: str, verifier: str) -> dict[str, Any]:
    """The token endpoint's answer for ``code`` (``id_token``, ``access_token``, ...)."""
    metadata = discovery(config.issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": config.redirect_uri,
        "code_verifier": verifier,
    }
    headers = {}
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in methods:
        pair = f"{urllib.parse.quote(config.client_id, safe='')}:" + urllib.parse.quote(
            config.client_secret, safe=""
        )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form |= {"client_id": config.client_id, "client_secret": config.client_secret}
    answer = _http_json(metadata["token_endpoint"], "token", form=form, headers=headers)
    if not isinstance(answer.get("id_token"), str):
        raise OidcError("The identity provider sent no ID token.")
    return answer


def _jwks_client(jwks_uri: str) -> jwt.PyJWKClient:
    with _jwks_lock:
        if jwks_uri not in _jwks_clients:
            _jwks_clients[jwks_uri] = jwt.PyJWKClient(
                jwks_uri, cache_keys=True, lifespan=DISCOVERY_SECONDS, timeout=HTTP_TIMEOUT_SECONDS
            )
        return _jwks_clients[jwks_uri]


def verify_id_token(
    id_token: str, *, issuer: str, client_id: str, jwks_uri: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims after every check in the module's docstring; the signing
    key is looked up by the token's ``kid`` in the JWKS at ``jwks_uri``."""
    try:
        key = _jwks_client(jwks_uri).get_signing_key_from_jwt(id_token)
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key.key,
            algorithms=ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"], "strict_aud": False},
        )
    except jwt.PyJWKClientConnectionError as error:
        raise OidcError(f"The identity provider's keys cannot be fetched: {error}") from None
    except jwt.PyJWTError as error:
        log.warning("OIDC ID token refused: %s", error)
        raise OidcError(f"The identity provider's ID token was refused: {error}.") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise OidcError("The ID token is meant for several clients but not authorized for ours.")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise OidcError("The ID token does not answer this browser's sign-in (nonce).")
    return claims


def userinfo(config: Client, access_token: str, subject: str) -> dict[str, Any]:
    """The userinfo endpoint's claims ({} when the provider has none); same ``sub`` only."""
    endpoint = discovery(config.issuer).get("userinfo_endpoint")
    if not isinstance(endpoint, str) or not access_token:
        return {}
    claims = _http_json(endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
    if claims.get("sub") != subject:
        raise OidcError("The identity provider's userinfo names another user than the ID token.")
    return claims


def finish(config: Client, pending: Pending, params: dict[str, str]) -> dict[str, Any]:
    """The signed-in user's claims for the provider's redirect back (its query ``params``)."""
    if not hmac.compare_digest(params.get("state", ""), pending.state):
        raise OidcError("This sign-in was not started here or has expired; start it again.")
    if params.get("error"):
        described = params.get("error_description") or params["error"]
        raise OidcError(f"The identity provider did not sign you in: {described}.")
    if not params.get("code"):
        raise OidcError("The identity provider sent no authorization code.")
    tokens = exchange_code(config, params["code"], pending.verifier)
    claims = verify_id_token(
        tokens["id_token"],
        issuer=config.issuer,
        client_id=config.client_id,
        jwks_uri=discovery(config.issuer)["jwks_uri"],
        nonce=pending.nonce,
    )
    extra = userinfo(config, str(tokens.get("access_token") or ""), claims["sub"])
    # Where both name a claim, the ID token's (verified above) wins.
    return {**extra, **claims}
