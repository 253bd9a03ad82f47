"""Sign-in with the identity provider in a real browser: Chromium (as in test_browser.py)
clicks "Sign in with …" on the live server's login page, logs in at a real
oidc-provider (tests/oidc.py), consents, and lands back signed in as the person whose
verified e-mail the provider vouched for. One flow only; the refusals are driven over
plain HTTP in test_oidc.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.oidc import CALLBACK, running_provider
from tests.web.test_browser import ARTIFACTS, browser, page  # noqa: F401 - the shared Chromium fixtures

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def live_provider(live_server, tmp_path_factory):
    """A provider whose client comes back to the live server (its port is known only now)."""
    with running_provider(tmp_path_factory.mktemp("oidc"), [live_server.url + CALLBACK]) as made:
        yield made


def test_sign_in_with_the_provider_in_chromium(page, live_server, live_provider, settings, world):  # noqa: F811
    live_provider.settings(settings, live_server.url)
    settings.OIDC_STAFF_GROUPS = ["oncall-admins"]
    settings.OIDC_LEAD_GROUP_PREFIX = "oncall-lead-"
    live_provider.accounts(
        carol={
            "email": "carol@example.org",
            "email_verified": True,
            "groups": ["oncall-admins", "oncall-lead-ops"],
        }
    )
    site = live_server.url
    page.goto(f"{site}/me/")
    expect(page).to_have_url(f"{site}/accounts/login/?next=/me/")
    expect(page.get_by_label("Password")).to_be_visible()  # local passwords stay
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "login-oidc-desktop.png", full_page=True)
    page.get_by_role("link", name="Sign in with Test ID").click()

    expect(page).to_have_url(re.compile(re.escape(live_provider.url + "/interaction/")))
    page.locator("input[name=login]").fill("carol")
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # consent

    expect(page).to_have_url(f"{site}/me/")
    expect(page.locator(".whoami")).to_have_text("Carol")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()  # staff by group
    world.carol.refresh_from_db()
    assert world.carol.user is not None and world.carol.user.is_staff
    assert list(world.team.leads.all()) == [world.carol]

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{site}/accounts/login/")
    page.goto(f"{site}/me/")
    expect(page).to_have_url(f"{site}/accounts/login/?next=/me/")
