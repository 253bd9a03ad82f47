"""CPU per storm ingest request in-process (Django test client, no HTTP server), then a
cProfile of the same loop: what one request costs before gunicorn, the client, PostgreSQL
and Redis share the cores.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oncall_prof \\
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/ingest_profile.py [N]

It makes (and drops) the test database ``test_<name>`` of DATABASE_URL.
"""

from __future__ import annotations

import cProfile
import io
import json
import logging
import os
import pstats
import sys
import time

from common import ROOT

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncall.settings")
os.environ["ONCALL_RATE_INGEST"] = "100000/s"  # only the per-token limit lifted

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from ingest_bench import event_body  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500


def per_request(client: Client, body: str, headers: dict[str, str]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(N):
        answer = client.post("/api/v1/events/", body, content_type="application/json", **headers)
        assert answer.status_code == 202, answer.content[:300]
    return (time.process_time() - cpu) / N * 1000, (time.perf_counter() - wall) / N * 1000


def main() -> None:
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    logging.disable(logging.WARNING)
    try:
        out = io.StringIO()
        call_command("create_api_token", "bench", "--scope", "ingest", stdout=out)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {out.getvalue().strip().splitlines()[-1]}"}
        client, body = Client(), json.dumps(event_body(1, "storm-1"))
        per_request(client, body, headers)  # warm-up: the incident exists, caches are full
        cpu, wall = per_request(client, body, headers)
        print(f"storm, {N} requests: {cpu:.2f} ms CPU, {wall:.2f} ms wall per request")
        profile = cProfile.Profile()
        profile.runcall(per_request, client, body, headers)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
