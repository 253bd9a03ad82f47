"""Fixtures shared by every test: API clients authenticated with real tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from oncall.models import ApiToken


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:
    """Tests run without collectstatic, so static URLs are not looked up in a manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_routing_config() -> None:
    """Each test starts from its own database: drop the process's cached routing config."""
    from escalation import routing_cache

    routing_cache.invalidate()


@pytest.fixture(autouse=True)
def _generous_limits(settings) -> None:
    """Tests fire requests faster than any bot and share one Redis across runs: raise the
    rate and login limits here; tests/service/test_limits.py checks the real ones."""
    settings.ONCALL_RATE_API = settings.ONCALL_RATE_INGEST = "100000/s"
    settings.ONCALL_LOGIN_FAILURES = 100000


@pytest.fixture
def token_client(db) -> Callable[..., APIClient]:
    """``token_client("read", "act", person=alice)`` → a client sending a fresh bearer token."""

    def make(*scopes: str, person=None) -> APIClient:
        token = ApiToken(name="test", scopes=list(scopes), person=person)
        secret = token.set_new_secret()
        token.save()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def admin_api(token_client) -> APIClient:
    return token_client("admin")


@pytest.fixture
def unused_tcp_port() -> int:
    from tests.processes import free_port

    return free_port()
