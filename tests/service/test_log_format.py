"""LOG_FORMAT: text by default, one JSON object per line for log shippers, checked in
real child processes (Django's configured logging, a Celery worker)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from oncall.env import Env
from oncall.logs import from_env
from tests.processes import ROOT, celery_worker, child_env, wait_until

# Logs a failure with a traceback and a two-line message through Django's LOGGING.
EMIT = """
import logging, django
django.setup()
try:
    {}["missing"]
except KeyError:
    logging.getLogger("oncall.sample").exception("first line\\nsecond line")
"""


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_record_is_one_line_with_utc_time_level_logger_message_and_exception():
    result = run_python(EMIT, LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    record = json.loads(lines[0])
    assert record["level"] == "ERROR"
    assert record["logger"] == "oncall.sample"
    assert record["message"] == "first line\nsecond line"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith("KeyError: 'missing'")
    assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)


def test_json_output_turns_python_warnings_into_records_too():
    result = run_python(
        "import warnings, django\ndjango.setup()\nwarnings.warn('careful\\nnow')",
        LOG_FORMAT="json",
    )

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(r["logger"], r["level"]) for r in records] == [("py.warnings", "WARNING")]
    assert "careful\nnow" in records[0]["message"]


def test_text_is_the_default_format():
    result = run_python(EMIT, LOG_FORMAT=None)

    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR oncall.sample first line", first
    )
    assert "KeyError: 'missing'" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    with pytest.raises(ImproperlyConfigured, match=f"{name}='{value}'"):
        from_env(Env({name: value}))
    result = run_python("import django; django.setup()", **{name: value})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}='{value}'" in result.stderr


def test_values_are_case_insensitive():
    assert from_env(Env({"LOG_FORMAT": "JSON", "LOG_LEVEL": "warning"})) == ("WARNING", "json")
    assert from_env(Env({})) == ("INFO", "text")


@pytest.mark.slow
def test_celery_worker_writes_json_lines_instead_of_its_own_format(tmp_path):
    log = tmp_path / "worker.log"

    with celery_worker("default", child_env(LOG_FORMAT="json"), log) as proc:
        wait_until(
            lambda: proc.poll() is not None or " ready." in log.read_text(), 60, "worker", log
        )
    lines = log.read_text().splitlines()

    ready = [line for line in lines if " ready." in line]
    assert len(ready) == 1, lines
    record = json.loads(ready[0])
    assert record["logger"] == "celery.apps.worker"
    assert record["level"] == "INFO"
    # Celery's own text format ("[2026-01-01 10:00:00,000: INFO/MainProcess] ...") is gone.
    assert not [line for line in lines if re.match(r"\[\d{4}-\d\d-\d\d .*: [A-Z]+/", line)]
