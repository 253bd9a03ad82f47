"""A token revoked in the database is refused at once by every server process
(docs/api.md, "Tokens and scopes"), whatever that process served before and whether or
not Redis is up."""

from __future__ import annotations

import http.client
from contextlib import ExitStack

import pytest
from django.utils import timezone

from oncall.models import ApiToken
from tests.processes import child_env, free_port, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Address = tuple[str, int]


def status(address: Address, path: str, secret: str | None = None) -> int:
    conn = http.client.HTTPConnection(*address, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize(
    "redis_url",
    [None, f"redis://127.0.0.1:{free_port()}/0"],
    ids=["redis-as-configured", "redis-unreachable"],
)
def test_revoked_token_is_refused_at_once_by_every_process(tmp_path, redis_url):
    token = ApiToken(name="bot", scopes=["read"])
    secret = token.set_new_secret()
    token.save()
    env = {"REDIS_URL": redis_url} if redis_url else {}
    with ExitStack() as stack:
        urls = [
            stack.enter_context(web_server(child_env(**env), tmp_path / f"web{i}.log"))
            for i in (1, 2)
        ]
        servers = [("127.0.0.1", int(url.rsplit(":", 1)[1])) for url in urls]
        # Each process serves the token first, so each has seen it valid.
        assert [status(s, "/api/v1/people/", secret) for s in servers] == [200, 200]

        # Revoked by another process, through the database only (no signal, no cache).
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

        assert [status(s, "/api/v1/people/", secret) for s in servers] == [401, 401]
