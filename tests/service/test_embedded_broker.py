"""The embedded broker (no REDIS_URL) wakes an idle worker within a tenth of a second.

kombu's filesystem transport has no push: an idle worker lists the folder, then
sleeps the transport's ``polling_interval`` (kombu's default: 1 s). Every hop of a
page (advance, then deliver) paid that sleep. What the worker sleeps is read from
the connection the project's Celery app gives a worker, in a process started the
way ``make run`` starts one, so a misspelt option or a setting that never reaches
kombu fails here. The latency itself is measured by bench/matrix_bench.py.
"""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, child_env

PROBE = (
    "from oncall.celery import app\n"
    "with app.connection_for_read() as connection:\n"
    "    print(connection.transport_cls, connection.transport.polling_interval)\n"
)


def worker_connection(tmp_path, **env: str | None) -> list[str]:
    answer = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=child_env(REDIS_URL=None, ONCALL_DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return answer.stdout.split()


def test_embedded_broker_polls_ten_times_a_second_by_default(tmp_path):
    assert worker_connection(tmp_path, CELERY_BROKER_POLL_MS=None) == ["filesystem", "0.1"]


def test_embedded_broker_poll_interval_is_configurable(tmp_path):
    assert worker_connection(tmp_path, CELERY_BROKER_POLL_MS="250") == ["filesystem", "0.25"]
