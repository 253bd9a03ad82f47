"""A worker wakes within a tenth of a second: for a new task on the embedded broker
(no REDIS_URL), and for an ETA task that is due (the first step of an incident).

kombu's filesystem transport has no push: an idle worker lists the folder, then
sleeps the transport's ``polling_interval`` (kombu's default: 1 s). And a worker
holding ETA tasks (re-pings ahead) sleeps up to ``worker_timer_precision``
(Celery's default: 1 s) before it runs one that just became due. Every hop of a
page paid those sleeps. What a worker uses is read from the project's Celery app in
a process started the way ``make run`` starts one, so a misspelt option or a
setting that never reaches kombu or Celery fails here. The latency itself is
measured by bench/matrix_bench.py, not asserted.
"""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, child_env

PROBE = (
    "from oncall.celery import app\n"
    "with app.connection_for_read() as connection:\n"
    "    print(connection.transport_cls, connection.transport.polling_interval)\n"
    "print(app.conf.worker_timer_precision)\n"
)


def worker_settings(tmp_path, **env: str | None) -> list[str]:
    answer = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=child_env(ONCALL_DATA_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return answer.stdout.split()


def test_embedded_broker_polls_ten_times_a_second_by_default(tmp_path):
    found = worker_settings(tmp_path, REDIS_URL=None, CELERY_BROKER_POLL_MS=None)
    assert found[:2] == ["filesystem", "0.1"]


def test_embedded_broker_poll_interval_is_configurable(tmp_path):
    found = worker_settings(tmp_path, REDIS_URL=None, CELERY_BROKER_POLL_MS="250")
    assert found[:2] == ["filesystem", "0.25"]


def test_a_worker_rechecks_its_eta_schedule_ten_times_a_second_on_either_broker(tmp_path):
    assert worker_settings(tmp_path, REDIS_URL=None)[2] == "0.1"
    assert worker_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")[2] == "0.1"
