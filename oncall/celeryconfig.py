"""Celery configuration derived from Django settings (loaded lazily by ``oncall.celery``)."""

from django.conf import settings

from oncall.celery import app_config

globals().update(
    app_config(
        settings.REDIS_URL,
        settings.CELERY_BROKER_DIR,
        settings.ESCALATION_TICK_SECONDS,
        settings.CELERY_BROKER_POLL_MS / 1000,
    )
)
beat_schedule_filename = str(settings.DATA_DIR / "celerybeat-schedule")
