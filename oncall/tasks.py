from celery import shared_task
from django.utils import timezone

from oncall.models import Heartbeat


@shared_task(name="oncall.tasks.heartbeat")
def heartbeat(name: str = "worker") -> str:
    """Record that the scheduler fired and a worker ran the task (read by /healthz)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})
    return name
