"""Log output as text or as one JSON object per line (``LOG_FORMAT``).

Django reads ``logging_config`` through ``settings.LOGGING``; gunicorn reads
``gunicorn_logging`` through ``oncall.gunicorn_config``; Celery keeps its own
handlers and ``oncall.celery`` gives them the JSON formatter.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from oncall.env import Env

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so a log shipper needs no multi-line rules: the
    message's own newlines and a traceback stay inside their record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def from_env(env: Env) -> tuple[str, str]:
    """``(LOG_LEVEL, LOG_FORMAT)``; a value outside the lists stops start-up."""
    return env.choice("LOG_LEVEL", "INFO", LOG_LEVELS), env.choice(
        "LOG_FORMAT", "text", LOG_FORMATS
    )


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": "oncall.logs.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt}},
        "root": {"handlers": ["console"], "level": level},
    }


def configure(config: dict[str, Any]) -> None:
    """Django's LOGGING_CONFIG. With JSON output, Python's warnings become records too
    (logger ``py.warnings``) instead of bare multi-line text on stderr."""
    logging.config.dictConfig(config)
    if config["handlers"]["console"]["formatter"] == "json":
        logging.captureWarnings(True)


def gunicorn_logging(level: str, fmt: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error and access loggers lose their own
    handlers and hand records to the root handler, in the same format as Django's."""
    config = logging_config(level, fmt)
    config["loggers"] = {
        "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    }
    return config
