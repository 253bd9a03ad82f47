"""The web UI in a real browser: Debian's Chromium driven by Playwright against the app
served by a real server (pytest-django's live server), incidents posted through the
REST API. Screenshots of every page at desktop and phone width are kept under
``var/test-artifacts/web/``.

Playwright's own browser download is not used: the tests launch /usr/bin/chromium
(``scripts/system-deps.sh`` installs it). A browser that cannot start fails the tests.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from escalation.models import Incident
from oncall.models import ApiToken
from rotations.models import Override, Swap
from tests.escalation.conftest import FAILURE
from tests.web.conftest import PASSWORD

CHROMIUM = os.environ.get("ONCALL_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "web"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Playwright's sync API keeps an asyncio loop in this thread while it runs, so Django
    # would refuse the tests' own (plain, synchronous) ORM calls and database flushes.
    allow = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    driver = sync_playwright().start()
    try:
        try:
            launched = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        except PlaywrightError as error:
            pytest.fail(
                f"Chromium could not be started from {CHROMIUM}: {error}\n"
                "Install it with scripts/system-deps.sh (Debian package 'chromium').",
                pytrace=False,
            )
        yield launched
        launched.close()
    finally:
        driver.stop()
        if allow is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = allow


@pytest.fixture
def site(live_server, settings) -> str:
    settings.ONCALL_BASE_URL = "https://oncall.example.org"
    return live_server.url


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def post_event(site, world):
    """POST a generic event to the running server with an ingest token; returns the
    incident id from the 202 answer."""
    token = ApiToken(name="zuul", scopes=["ingest"])
    secret = token.set_new_secret()
    token.save()

    def post(**changes: object) -> int:
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL
            f"{site}/api/v1/events/",
            data=json.dumps({**FAILURE, **changes}).encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 202
            return int(json.load(response)["incidents"][0]["id"])

    return post


def login(page, site: str, username: str = "alice") -> None:
    page.goto(f"{site}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site}/incidents/")


def test_claim_and_mute_an_incident_posted_through_the_api(page, site, post_event, world):
    pk = post_event()
    login(page, site)
    row = page.locator(f"#incident-{pk}")
    expect(row).to_contain_text("SovereignCloudStack/standards")
    expect(row).to_contain_text("scs-check-gx-scs-main")
    expect(row.locator(".badge.state-open")).to_be_visible()

    row.get_by_role("button", name=f"Claim #{pk}").click()
    expect(page.locator(".message.success")).to_contain_text(f"Claimed #{pk}")
    expect(row.locator(".badge.state-claimed")).to_be_visible()
    expect(row).to_contain_text("claimed by Alice")
    incident = Incident.objects.get(pk=pk)
    assert (incident.state, incident.claimed_by_id) == ("claimed", world.alice.pk)

    row.get_by_text(f"Mute #{pk}").click()
    row.get_by_role("button", name="1 h").click()
    expect(page.locator(".message.success")).to_contain_text(f"Muted #{pk}")
    expect(row.locator(".badge.is-muted")).to_be_visible()
    incident.refresh_from_db()
    left = incident.muted_until - timezone.now()
    assert timedelta(minutes=55) < left <= timedelta(hours=1)


def test_actions_keep_the_filters_and_the_list_refreshes_in_place(page, site, post_event):
    first = post_event()
    other = post_event(repo="Other/repo", job="other-job")
    login(page, site)
    filtered = f"{site}/incidents/?state=open&repo=standards"
    page.goto(filtered)
    expect(page.locator(f"#incident-{first}")).to_be_visible()
    expect(page.locator(f"#incident-{other}")).to_have_count(0)

    page.locator(f"#incident-{first}").get_by_role("button", name=f"Claim #{first}").click()
    expect(page).to_have_url(filtered)
    expect(page.locator(f"#incident-{first}")).to_have_count(0)  # claimed: not in "open"
    expect(page.get_by_text("Nothing open matches these filters.")).to_be_visible()

    later = post_event(job="later-job")
    post_event(repo="Other/repo", job="another-other-job")
    page.evaluate("window.oncall.refresh()")
    expect(page.locator(f"#incident-{later}")).to_be_visible()
    expect(page.locator(".incident")).to_have_count(1)
    expect(page).to_have_url(filtered)


def test_custom_mute_with_bad_input_shows_a_form_error(page, site, post_event):
    pk = post_event()
    login(page, site)
    page.goto(f"{site}/incidents/{pk}/")
    expect(page.get_by_role("heading", name="Runbook")).to_be_visible()
    page.get_by_label("Mute for", exact=True).fill("0")
    page.locator("#mute").get_by_role("button", name="Mute").click()
    expect(page.locator(".field-error")).to_contain_text("greater than or equal to 1")
    page.get_by_label("Mute for", exact=True).fill("2")
    page.get_by_label("Unit").select_option("days")
    page.locator("#mute").get_by_role("button", name="Mute").click()
    expect(page.locator(".message.success")).to_contain_text(f"Muted #{pk}")
    left = Incident.objects.get(pk=pk).muted_until - timezone.now()
    assert timedelta(days=2) - timedelta(minutes=5) < left <= timedelta(days=2)


def test_rotation_timeline_has_subscribe_links_and_creates_an_override(page, site, world):
    login(page, site)
    page.goto(f"{site}/rotations/core-ops/")
    expect(page.locator(".g-bar").first).to_be_visible()
    webcal = page.locator('a[data-feed="webcal"]').first
    expect(webcal).to_have_attribute("href", _starts_with("webcal://oncall.example.org/ical/r_"))
    https = page.locator('input[data-feed="https"]').first
    expect(https).to_have_value(_starts_with("https://oncall.example.org/ical/r_"))
    mine = page.locator('input[data-feed="https"]').nth(1)
    expect(mine).to_have_value(_starts_with("https://oncall.example.org/ical/p_"))

    berlin = ZoneInfo("Europe/Berlin")
    start = (
        (timezone.now() + timedelta(days=3))
        .astimezone(berlin)
        .replace(hour=9, minute=0, second=0, microsecond=0)
    )
    end = start + timedelta(days=2)
    page.get_by_label("Who covers").select_option("alice")  # others: staff only
    page.get_by_label("From (Europe/Berlin)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until (Europe/Berlin)").fill(end.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Reason (optional)").fill("conference swap")
    page.get_by_role("button", name="Create override").click()
    expect(page.locator(".message.success")).to_contain_text("Alice covers Core ops")
    expect(page.locator(".g-bar.override")).to_have_count(1)
    expect(page.locator(".overrides")).to_contain_text("conference swap")
    override = Override.objects.get()
    assert (override.person_id, override.start, override.end) == (world.alice.pk, start, end)


def test_ask_for_cover_of_my_shift_with_its_button(page, site, world):
    login(page, site)
    page.goto(f"{site}/rotations/core-ops/")
    page.locator("#swaps").get_by_role("button", name="Ask for cover").first.click()
    expect(page.locator(".message.success")).to_contain_text("the other members are asked")
    swap = Swap.objects.get()
    expect(page.locator("#swaps .swaps")).to_contain_text(f"#{swap.pk}")
    assert (swap.requester, swap.state) == (world.alice, "open")


def _starts_with(prefix: str):
    import re

    return re.compile("^" + re.escape(prefix))


def test_screenshots_of_every_page_at_desktop_and_phone_width(browser, site, post_event, world):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pk = post_event(log_url="https://logs.example.org/1/")
    post_event(job="openstack-scs-flavor-check", result="NODE_FAILURE", category="infrastructure")
    post_event(repo="Unknown/repo", job="periodic-check")
    Override.objects.create(
        rotation=world.rotation,
        person=world.bob,
        start=timezone.now() + timedelta(days=4),
        end=timezone.now() + timedelta(days=6),
        reason="swap",
    )
    pages = {
        "incidents": "/incidents/",
        "incident": f"/incidents/{pk}/",
        "oncall": "/oncall/?repo=standards",
        "rotation": "/rotations/core-ops/",
        "coverage": "/coverage/",
        "me": "/me/",
    }
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, timezone_id="Europe/Berlin")
        tab = context.new_page()
        tab.goto(f"{site}/accounts/login/")
        tab.screenshot(path=ARTIFACTS / f"login-{label}.png", full_page=True)
        login(tab, site)
        for name, path in pages.items():
            tab.goto(site + path)
            expect(tab.locator("main h1").first).to_be_visible()
            tab.screenshot(path=ARTIFACTS / f"{name}-{label}.png", full_page=True)
            # Nothing may stick out sideways, on a phone least of all.
            overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px too wide at {label} width"
        context.close()
    for name in [*pages, "login"]:
        for label in ("desktop", "phone"):
            assert (ARTIFACTS / f"{name}-{label}.png").stat().st_size > 5000


def test_no_page_breaks_the_content_security_policy(browser, site, post_event, world):
    """Every page of the web UI, the admin, the API docs and an e-mail action page work
    under ``default-src 'self'``: Chromium reports no refused script, style or image."""
    from django.contrib.auth import get_user_model

    from escalation.links import make_token

    pk = post_event()
    get_user_model().objects.filter(pk=world.user.pk).update(is_staff=True, is_superuser=True)
    token = make_token(pk, world.alice.pk, "claim")
    context = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Berlin")
    tab = context.new_page()
    refused: list[str] = []
    tab.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    login(tab, site)
    checks = {
        "/incidents/": "main h1",
        f"/incidents/{pk}/": "main h1",
        "/oncall/?repo=standards": "main h1",
        "/rotations/core-ops/": ".g-bar",
        "/coverage/": "main h1",
        "/me/": "main h1",
        f"/act/claim/{token}/": "main h1",
        "/admin/": "#site-name",
        "/admin/escalation/incident/": "#result_list",
        f"/admin/escalation/incident/{pk}/change/": "#content h1",
        "/admin/rotations/rotation/add/": "#content h1",
        "/api/docs/": ".swagger-ui .info .title",
    }
    for path, selector in checks.items():
        response = tab.goto(site + path)
        assert response is not None and response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        expect(tab.locator(selector).first).to_be_visible()
    bar = tab.goto(site + "/rotations/core-ops/") and tab.locator(".g-bar").first.bounding_box()
    assert bar is not None and bar["width"] > 10  # placed by app.js, not by style=""
    context.close()
    assert refused == []


def test_reports_page_draws_its_charts_without_sideways_scroll_or_csp_refusals(
    browser, site, world
):
    """A seeded history (tests/escalation/reports_history.py): five SVG charts, the
    incidents chart with a bar for each of the two weeks that had incidents, at desktop
    and phone width, under ``default-src 'self'``."""
    from tests.escalation.reports_history import seed

    seed(world.team, world.repo)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, timezone_id="Europe/Berlin")
        tab = context.new_page()
        refused: list[str] = []
        tab.on(
            "console",
            lambda message, refused=refused: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        login(tab, site)
        tab.goto(f"{site}/reports/?team=ops&from=2026-10-19&to=2026-11-01")
        expect(tab.locator("main h1")).to_have_text("Reports")
        assert tab.locator("svg.chart").count() == 5
        incidents = tab.locator("#chart-incidents ~ .chart-pair svg.chart rect.bar")
        assert incidents.count() == 2
        box = tab.locator("svg.chart").first.bounding_box()
        assert box is not None and 200 < box["width"] <= viewport["width"]
        assert tab.locator(".chart-table").first.is_visible()
        tab.screenshot(path=ARTIFACTS / f"reports-{label}.png", full_page=True)
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"/reports/ is {overflow}px too wide at {label} width"
        context.close()
        assert refused == []
        assert (ARTIFACTS / f"reports-{label}.png").stat().st_size > 5000
