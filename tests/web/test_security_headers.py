"""Security headers (issue 12 §6, docs/operations.md): a Content-Security-Policy on
every page, no caching of pages and API answers that show incidents or feed links,
HSTS when served over https."""

import os
import subprocess
import sys

import pytest
from django.test import Client

from rotations import feeds
from tests.web.conftest import failure

pytestmark = pytest.mark.django_db

CSP = "default-src 'self'"


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/admin/login/", "/api/docs/", "/healthz", "/no-such-page/"]
)
def test_every_page_carries_the_content_security_policy(client, path):
    response = client.get(path)

    assert response["Content-Security-Policy"].startswith(CSP)
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_pages_with_incidents_or_feed_links_are_not_stored(alice_client, world):
    incident = failure()
    for path in ("/incidents/", f"/incidents/{incident.pk}/", "/rotations/core-ops/", "/me/"):
        response = alice_client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store", path
        assert response["Content-Security-Policy"].startswith(CSP), path


def test_api_answers_are_not_stored(admin_api, world):
    failure()
    for path in ("/api/v1/incidents/", "/api/v1/rotations/core-ops/", "/api/v1/people/"):
        response = admin_api.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store", path


def test_feeds_and_the_admin_keep_their_own_caching(world, alice_client):
    secret = feeds.issue_token(world.rotation)
    feed = Client().get(f"/ical/{secret}.ics")
    assert feed["Cache-Control"] == "private, max-age=300"  # ETag revalidation works
    assert feed["Content-Security-Policy"].startswith(CSP)

    world.user.is_staff = world.user.is_superuser = True
    world.user.save()
    assert "no-cache" in alice_client.get("/admin/")["Cache-Control"]


def settings_in_a_fresh_process(**env):
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.SECURE_HSTS_SECONDS)"
    environ = {k: v for k, v in os.environ.items() if k != "SECURE_HSTS_SECONDS"}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={**environ, "DJANGO_SETTINGS_MODULE": "oncall.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_hsts_is_on_when_the_base_url_is_https_only():
    assert settings_in_a_fresh_process(ONCALL_BASE_URL="https://oncall.example.org") == "31536000"
    assert settings_in_a_fresh_process(ONCALL_BASE_URL="http://127.0.0.1:8000") == "0"


def test_https_requests_get_strict_transport_security(settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    secure = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    plain = Client().get("/accounts/login/")

    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain
