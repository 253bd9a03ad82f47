"""The sign-in pages for the identity provider (docs/web.md, "Sign in with your identity
provider"): the login page with its "Sign in with ..." button, the start of the
provider's flow and the way back. Thin: ``oncall.oidc`` speaks the protocol,
``rotations.sign_in`` decides who the login is.

A refused sign-in answers 403 with a page saying why; nothing is signed in then.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from oncall import oidc
from rotations import sign_in

log = logging.getLogger(__name__)

SESSION_KEY = "oidc_pending"
BACKEND = "django.contrib.auth.backends.ModelBackend"


class LoginView(auth_views.LoginView):
    """Django's login form, with the identity provider's button when OIDC is set up."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if oidc.enabled():
            context["oidc_provider"] = oidc.provider_name()
        return context


def _client() -> oidc.Client:
    return oidc.client(reverse("oidc-callback"))


def _refuse(request: HttpRequest, reason: str) -> HttpResponse:
    return render(
        request,
        "registration/oidc_refused.html",
        {"reason": reason, "oidc_provider": oidc.provider_name()},
        status=403,
    )


@never_cache
def start(request: HttpRequest) -> HttpResponse:
    """``/accounts/oidc/login/``: off to the provider (``?next=`` is kept for the way back)."""
    if not oidc.enabled():
        raise Http404("Sign-in with an identity provider is not configured.")
    try:
        url, pending = oidc.begin(_client())
    except oidc.OidcError as error:
        return _refuse(request, str(error))
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    request.session[SESSION_KEY] = {
        "state": pending.state,
        "nonce": pending.nonce,
        "verifier": pending.verifier,
        "next": wanted if safe else "",
    }
    return HttpResponseRedirect(url)


@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """``/accounts/oidc/callback/``: the provider sends the browser back here."""
    if not oidc.enabled():
        raise Http404("Sign-in with an identity provider is not configured.")
    kept = request.session.pop(SESSION_KEY, None)  # one use only
    if not isinstance(kept, dict):
        return _refuse(request, "This sign-in was not started here or has expired; start again.")
    pending = oidc.Pending(state=kept["state"], nonce=kept["nonce"], verifier=kept["verifier"])
    rules = sign_in.GroupRules(
        claim=settings.OIDC_GROUPS_CLAIM,
        staff=frozenset(settings.OIDC_STAFF_GROUPS),
        lead_prefix=settings.OIDC_LEAD_GROUP_PREFIX,
    )
    try:
        claims = oidc.finish(_client(), pending, request.GET.dict())
        user = sign_in.login_for_claims(claims, rules)
    except (oidc.OidcError, sign_in.Refused) as error:
        log.info("OIDC sign-in refused: %s", error)
        return _refuse(request, str(error))
    login(request, user, backend=BACKEND)  # a new session key: no fixation
    return HttpResponseRedirect(kept.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))
