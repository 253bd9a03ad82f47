"""Plumbing shared by the web UI's pages (``escalation.web``, ``rotations.web``): login,
the person a login acts as, the viewer's time zone, redirects back to a filtered list.

No business logic: pages parse, call a service or selector, and render. It lives in
``rotations`` (not ``oncall``) because it looks up the login's person: the project's
plumbing stays below both apps.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from rotations.models import Person
from rotations.selectors import person_for_user

NO_PERSON = (
    "Your login is not linked to a person, so you can look but not act. Ask an admin to "
    "link it (Admin › People › user), or use a username equal to your handle."
)

View = Callable[..., HttpResponse]


class WebRequest(HttpRequest):
    """A request of a web page: ``person`` is who the login acts as (None: view only)."""

    person: Person | None


def _viewer_timezone(person: Person | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(person.timezone if person else "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def page(view: View) -> View:
    """A page of the web UI: login required (else the login page), ``request.person``
    set, and times shown in the person's time zone (UTC without a person)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        web = cast(WebRequest, request)
        web.person = person_for_user(request.user)
        timezone.activate(_viewer_timezone(web.person))
        try:
            return view(web, *args, **kwargs)
        finally:
            timezone.deactivate()

    return cast(View, wrapper)


def action(view: View) -> View:
    """A state change: POST only (405 otherwise, CSRF checked by the middleware), logged
    in, and a linked person; without one, a message and back where the user came from."""

    @functools.wraps(view)
    def wrapper(request: WebRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.person is None:
            messages.error(request, NO_PERSON)
            return back(request, "/")
        return view(request, *args, **kwargs)

    return cast(View, login_required(require_POST(page(wrapper))))


def back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` (the page it was on, filters included) when it is
    a path of this site, else to ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if safe and target.startswith("/") else fallback)
