"""The database down under a real web server (gunicorn): the API answers 503 with
``Retry-After``, never 500, and works again when the database is back.

The database is a throwaway PostgreSQL cluster holding a copy of the test database
(pg_dump), stopped with an immediate shutdown as a crash would.
"""

import json
import shutil
import subprocess
import urllib.request
from urllib.error import HTTPError

import pytest
from django.conf import settings

from oncall.models import ApiToken
from rotations import feeds
from rotations.models import Person
from tests.processes import child_env, database_url, postgres_server, wait_until, web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EVENT = {
    "source": "zuul",
    "status": "failure",
    "repo": "org/repo",
    "job": "check",
    "result": "FAILURE",
    "summary": "Build failed.",
}


def request(url: str, token: str = "", body: object = None) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data)  # noqa: S310 (loopback)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def tokens() -> tuple[str, str]:
    secrets = []
    for scopes in (["ingest"], ["read"]):
        token = ApiToken(name="t", scopes=scopes)
        secrets.append(token.set_new_secret())
        token.save()
    return secrets[0], secrets[1]


def test_api_and_feeds_answer_503_with_retry_after_while_the_database_is_down(tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("psql")):
        pytest.fail("pg_dump and psql are needed: apt-get install -y postgresql-client")
    ingest, read = tokens()
    feed = feeds.issue_token(Person.objects.create(handle="alice", name="Alice"))
    with postgres_server() as db:
        # The test database's schema and rows, copied into the throwaway cluster.
        dump = subprocess.run(["pg_dump", database_url()], check=True, capture_output=True)  # noqa: S603, S607
        subprocess.run(["psql", "-q", db.url], input=dump.stdout, check=True, capture_output=True)  # noqa: S603, S607
        env = child_env(DATABASE_URL=db.url, SECRET_KEY=settings.SECRET_KEY, REDIS_URL=None)
        with web_server({**env, "ONCALL_DATA_DIR": str(tmp_path)}, tmp_path / "web.log") as base:
            events, incidents = f"{base}/api/v1/events/", f"{base}/api/v1/incidents/"
            assert request(events, ingest, EVENT)[0] == 202
            db.stop()

            for url, token, body in [
                (events, ingest, {**EVENT, "job": "during"}),
                (incidents, read, None),
                (f"{base}/api/v1/people/", read, None),
            ]:
                status, headers, content = request(url, token, body)
                assert status == 503, (url, content)
                assert headers["Retry-After"] == "30"
                assert json.loads(content)["error"]["code"] == "unavailable"
            status, headers, _ = request(f"{base}/ical/{feed}.ics")
            assert (status, headers["Retry-After"]) == (503, "30")
            assert request(f"{base}/healthz")[0] == 503

            db.start()
            wait_until(lambda: request(incidents, read)[0] == 200, 30, "the API back")
            assert request(events, ingest, {**EVENT, "job": "after"})[0] == 202
            body = json.loads(request(incidents, read)[2])
            assert sorted(i["job"] for i in body["results"]) == ["after", "check"]
        log = (tmp_path / "web.log").read_text()
        assert '" 500 ' not in log
        assert "Internal Server Error" not in log
