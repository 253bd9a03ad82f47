"""Rate limits (docs/api.md, "Limits"): 429 ``rate_limited`` with Retry-After per
token on the API and ingestion, login lock-out per address and per username, and a
limiter that lets everything through when its cache (Redis) is down."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from escalation.models import Incident
from oncall import ratelimit
from tests.processes import free_port

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # noqa: S105


@pytest.fixture
def fresh_cache(settings):
    """A cache of this test's own: counters from other tests and runs do not leak in."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,
        }
    }


@pytest.fixture
def redis_down(settings):
    """The cache is a Redis that is not running."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }


@pytest.fixture
def frozen():
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        yield traveller


def test_the_documented_defaults_are_the_settings_defaults():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_RATE_")}
    env.pop("ONCALL_LOGIN_FAILURES", None)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.ONCALL_RATE_INGEST, s.ONCALL_RATE_API, s.ONCALL_LOGIN_FAILURES, "
        "s.ONCALL_LOGIN_WINDOW_SECONDS)"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "oncall.settings"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["50/s", "20/s", "10", "900"]


@pytest.mark.parametrize(
    ("rate", "parsed"), [("50/s", (50, 1)), ("20 / sec", (20, 1)), ("600/m", (600, 60))]
)
def test_rates_are_parsed(rate, parsed):
    assert ratelimit.parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["50", "0/s", "5/day", "x/s", ""])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError, match="N/s"):
        ratelimit.parse_rate(rate)


# API and ingestion ----------------------------------------------------------------


def test_api_over_the_limit_answers_429_rate_limited_with_retry_after(
    settings, fresh_cache, frozen, token_client
):
    settings.ONCALL_RATE_API = "3/m"
    reader, other = token_client("read"), token_client("read")

    answers = [reader.get("/api/v1/incidents/").status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    refused = reader.get("/api/v1/incidents/")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert other.get("/api/v1/incidents/").status_code == 200  # per token
    frozen.shift(timedelta(seconds=int(refused["Retry-After"])))
    assert reader.get("/api/v1/incidents/").status_code == 200


def event(n):
    return {"source": "ci", "status": "failure", "repo": f"o/r{n}", "summary": "failed"}


def test_ingest_has_its_own_limit_and_a_refused_event_is_not_stored(
    settings, fresh_cache, frozen, token_client
):
    settings.ONCALL_RATE_INGEST = "2/m"
    settings.ONCALL_RATE_API = "1/m"
    bot = token_client("ingest")

    answers = [bot.post("/api/v1/events/", event(n)).status_code for n in range(3)]

    assert answers == [202, 202, 429]
    assert sorted(Incident.objects.values_list("repo", flat=True)) == ["o/r0", "o/r1"]


def test_the_api_limit_fails_open_when_redis_is_down(settings, redis_down, token_client):
    settings.ONCALL_RATE_API = "1/m"
    reader = token_client("read")

    answers = [reader.get("/api/v1/incidents/").status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_the_counter_never_raises_when_redis_is_down(redis_down):
    assert ratelimit.hit(ratelimit.key("x"), "1/m") is None
    assert ratelimit.hit(ratelimit.key("x"), "1/m") is None


def test_counters_are_kept_in_the_shared_cache_when_redis_is_configured(settings):
    # Every gunicorn process sees the same counter: it lives in Redis, not in memory.
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    name = ratelimit.key("shared", uuid.uuid4().hex)
    assert ratelimit.hit(name, "1/h") is None
    from django.core.cache.backends.redis import RedisCache

    another_process = RedisCache(settings.CACHES["default"]["LOCATION"], {})
    assert any(
        another_process.get(f"{name}:{window}") == 1
        for window in (int(datetime.now(UTC).timestamp() // 3600) + d for d in (0, -1))
    )
    assert ratelimit.hit(name, "1/h") is not None


# Logins ---------------------------------------------------------------------------


def address():
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture
def user(settings):
    # A cheap hasher keeps these dozens of logins fast; the limits do not depend on it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ONCALL_LOGIN_FAILURES = 10
    settings.ONCALL_LOGIN_WINDOW_SECONDS = 900
    return get_user_model().objects.create_user(
        f"u{uuid.uuid4().hex[:10]}", password=PASSWORD, is_staff=True
    )


def login(path, username, password, ip):
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_ten_wrong_passwords_lock_the_username_even_for_the_right_one(user, path):
    wrong = [login(path, user.username, "wrong", address()).status_code for _ in range(10)]
    assert wrong == [200] * 10  # the form's error, one address each

    refused = login(path, user.username, PASSWORD, address())

    assert refused.status_code == 429
    assert "Too many failed logins" in refused.content.decode()
    assert 840 <= int(refused["Retry-After"]) <= 900
    assert "_auth_user_id" not in refused.wsgi_request.session


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_nine_wrong_passwords_do_not_lock(user, path):
    for _ in range(9):
        login(path, user.username, "wrong", address())

    assert login(path, user.username, PASSWORD, address()).status_code == 302


def test_ten_failures_from_one_address_lock_it_for_every_username(user):
    ip = address()
    for n in range(10):
        login("/accounts/login/", f"nobody{n}", "guess", ip)

    assert login("/admin/login/", user.username, PASSWORD, ip).status_code == 429
    assert login("/accounts/login/", user.username, PASSWORD, address()).status_code == 302


def test_the_lock_ends_when_the_window_has_passed(user, frozen):
    for _ in range(10):
        login("/accounts/login/", user.username, "wrong", address())
    assert login("/accounts/login/", user.username, PASSWORD, address()).status_code == 429

    frozen.shift(timedelta(minutes=14))
    assert login("/accounts/login/", user.username, PASSWORD, address()).status_code == 429
    frozen.shift(timedelta(minutes=1, seconds=1))
    assert login("/accounts/login/", user.username, PASSWORD, address()).status_code == 302


def test_logins_work_when_redis_is_down(user, redis_down):
    ip = address()
    wrong = [login("/accounts/login/", user.username, "wrong", ip).status_code for _ in range(12)]

    assert wrong == [200] * 12
    assert login("/accounts/login/", user.username, PASSWORD, ip).status_code == 302
