"""Concurrent deliveries and actions against a real gunicorn on the PostgreSQL test database.

The server runs several worker processes with several threads each, so requests really
overlap in the database: counts must come out exact (never lost, never doubled), the
partial unique index must make concurrent first reports open one incident without a 500,
and two bots claiming at once must see exactly one winner.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from escalation.models import Incident, Occurrence, TimelineEntry
from oncall.models import ApiToken
from rotations.models import Person
from tests.processes import ROOT, child_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CLIENTS = 24
EVENT = {
    "source": "zuul",
    "status": "failure",
    "repo": "SovereignCloudStack/standards",
    "job": "scs-check-gx-scs-main",
    "pipeline": "periodic-hourly",
    "branch": "main",
    "subject": "gx-scs",
    "result": "FAILURE",
    "summary": "Build failed.",
}

Address = tuple[str, int]


def _request(address: Address, method: str, path: str, token: str, body: Any = None):
    """One request on a fresh connection: (status, decoded JSON body)."""
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


def hammer(calls: list[Callable[[], Any]], clients: int = CLIENTS) -> list[Any]:
    """Run ``calls`` on ``clients`` threads released together; results in call order.

    An exception in a call becomes its result, so one failure never hides the others.
    """
    results: list[Any] = [None] * len(calls)
    pending = iter(enumerate(calls))
    lock = threading.Lock()
    clients = min(clients, len(calls))
    start = threading.Barrier(clients)

    def client() -> None:
        start.wait()
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                return
            index, call = item
            try:
                results[index] = call()
            except Exception as error:  # noqa: BLE001 - reported by the test's assertions
                results[index] = error

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(address: Address) -> bool:
    try:
        conn = http.client.HTTPConnection(*address, timeout=2)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Address]:
    """gunicorn, 3 processes × 4 threads, serving the test database on a free port."""
    address = ("127.0.0.1", _free_port())
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    options = f"--workers 3 --threads 4 --bind {address[0]}:{address[1]} --access-logfile -"
    argv = [sys.executable, "-m", "gunicorn", "oncall.wsgi", *options.split()]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=child_env(), cwd=ROOT, stdout=out, stderr=out)
        try:
            wait_until(lambda: proc.poll() is not None or _answers(address), 30, "gunicorn", log)
            assert proc.poll() is None, log.read_text()[-4000:]
            yield address
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # A 500 anywhere in this module is a bug, whatever the test asserted: show the first.
    text = log.read_text()
    first = min((i for i in (text.find("Traceback"), text.find('" 500 ')) if i >= 0), default=-1)
    assert first < 0, text[max(0, first - 500) : first + 6000]


def secret(*scopes: str, person: Person | None = None) -> str:
    token = ApiToken(name="concurrency", scopes=list(scopes), person=person)
    value = token.set_new_secret()
    token.save()
    return value


def _statuses(results: list[Any]) -> Counter:
    return Counter(r[0] if isinstance(r, tuple) else repr(r) for r in results)


def test_200_concurrent_reports_of_one_failure_count_200_on_one_incident(server, repo):
    token = secret("ingest")

    results = hammer([lambda: _request(server, "POST", "/api/v1/events/", token, EVENT)] * 200)

    assert _statuses(results) == {202: 200}, results
    outcomes = [body["incidents"][0] for _, body in results]
    assert {o["id"] for o in outcomes} == {Incident.objects.get().pk}
    assert sum(o["created"] for o in outcomes) == 1
    # Each delivery bumped the counter under the row lock: every value seen exactly once.
    assert sorted(o["occurrences"] for o in outcomes) == list(range(1, 201))
    incident = Incident.objects.get()
    assert incident.occurrences == 200
    assert incident.state == Incident.State.OPEN
    assert incident.repo_ref == repo and incident.owned
    assert incident.escalation_started_at is not None
    assert Occurrence.objects.filter(incident=incident).count() == Occurrence.HISTORY
    kinds = Counter(incident.timeline.values_list("kind", flat=True))
    assert kinds[TimelineEntry.Kind.CREATED] == 1
    # occurrences 2, 3, 4, 5, 10 and 100 each get one line; a doubled count would add some.
    assert kinds[TimelineEntry.Kind.OCCURRED] == 6


@pytest.mark.parametrize("existing", [False, True], ids=["new-incident", "open-incident"])
def test_50_concurrent_redeliveries_of_one_event_id_count_once(server, existing):
    token = secret("ingest")
    before = 0
    if existing:
        status, _ = _request(
            server, "POST", "/api/v1/events/", token, {**EVENT, "event_id": "build-1"}
        )
        assert status == 202
        before = 1
    event = {**EVENT, "event_id": "build-2"}

    results = hammer([lambda: _request(server, "POST", "/api/v1/events/", token, event)] * 50)

    assert _statuses(results) == {202: 50}, results
    incident = Incident.objects.get()
    assert incident.occurrences == before + 1
    assert {body["incidents"][0]["id"] for _, body in results} == {incident.pk}
    assert {body["incidents"][0]["occurrences"] for _, body in results} == {before + 1}
    assert sum(body["incidents"][0]["created"] for _, body in results) == (0 if existing else 1)
    assert Occurrence.objects.filter(incident=incident, delivery_key="build-2").count() == 1


def test_50_concurrent_retries_with_one_idempotency_key_count_once(server):
    token = secret("ingest")
    batch = [{**EVENT, "job": "a"}, {**EVENT, "job": "b"}]

    def deliver() -> Any:
        conn = http.client.HTTPConnection(*server, timeout=60)
        conn.request(
            "POST",
            "/api/v1/events/",
            body=json.dumps(batch),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": "delivery-7",
            },
        )
        response = conn.getresponse()
        status, body = response.status, json.loads(response.read())
        conn.close()
        return status, body

    results = hammer([deliver] * 50)

    assert _statuses(results) == {202: 50}, results
    assert sorted(Incident.objects.values_list("job", "occurrences")) == [("a", 1), ("b", 1)]


def test_concurrent_first_reports_of_new_keys_open_one_incident_each(server):
    token = secret("ingest")
    keys = [f"new-problem-{n}" for n in range(20)]
    calls = [
        (
            lambda key=key: _request(
                server, "POST", "/api/v1/events/", token, {**EVENT, "dedup_key": key}
            )
        )
        for key in keys
        for _ in range(10)
    ]
    random.Random(7).shuffle(calls)

    results = hammer(calls)

    # A lost race on the unique index must fall back to the winner's row, never a 500.
    assert _statuses(results) == {202: 200}, results
    assert dict(Incident.objects.values_list("dedup_key", "occurrences")) == dict.fromkeys(keys, 10)
    created = Counter(
        body["incidents"][0]["id"] for _, body in results if body["incidents"][0]["created"]
    )
    assert sorted(created.values()) == [1] * 20
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.CREATED).count() == 20


def test_two_bots_claiming_at_once_one_wins_the_other_gets_409(server):
    ingest = secret("ingest")
    bots = [Person.objects.create(handle=f"bot-{n}", name=f"Bot {n}") for n in "ab"]
    tokens = {bot.handle: secret("act", person=bot) for bot in bots}
    for round_ in range(10):  # several rounds: the overlap differs each time
        status, body = _request(
            server,
            "POST",
            "/api/v1/events/",
            ingest,
            {**EVENT, "dedup_key": f"claim-race-{round_}"},
        )
        assert status == 202
        pk = body["incidents"][0]["id"]
        path = f"/api/v1/incidents/{pk}/claim/"

        results = hammer(
            [lambda t=t, p=path: _request(server, "POST", p, t, {}) for t in tokens.values()]
        )

        assert sorted(r[0] for r in results) == [200, 409], results
        (winner,) = [h for h, r in zip(tokens, results, strict=True) if r[0] == 200]
        (loser,) = [r[1] for r in results if r[0] == 409]
        assert loser["error"]["code"] == "invalid_state"
        incident = Incident.objects.select_related("claimed_by").get(pk=pk)
        assert incident.state == Incident.State.CLAIMED
        assert incident.claimed_by.handle == winner
        claims = list(
            incident.timeline.filter(kind=TimelineEntry.Kind.CLAIMED).values_list(
                "actor__handle", flat=True
            )
        )
        assert claims == [winner]
