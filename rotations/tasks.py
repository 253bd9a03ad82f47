from celery import Task, shared_task
from django.utils import timezone

from oncall.enqueue import enqueue_on_commit
from oncall.mail import MailError
from rotations import notices


@shared_task(name="rotations.tasks.send_handoff_notices")
def send_handoff_notices() -> int:
    """Beat: create the due notices and hand each to its own delivery task."""
    ids = notices.claim_notices(timezone.now())
    for notice_id in ids:
        enqueue_on_commit(deliver_handoff_notice, notice_id)
    return len(ids)


@shared_task(
    name="rotations.tasks.deliver_handoff_notice", bind=True, max_retries=5, default_retry_delay=60
)
def deliver_handoff_notice(self: Task, notice_id: int) -> bool:
    """Send one notice; a permanent refusal (5xx) fails it at once, other trouble is
    retried with backoff and fails the notice after the last retry."""
    try:
        return notices.deliver(notice_id)
    except MailError as error:
        final = error.permanent or self.request.retries >= (self.max_retries or 0)
        notices.record_failure(notice_id, error, final=final)
        if error.permanent:
            return False
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error
    except Exception as error:
        notices.record_failure(
            notice_id, error, final=self.request.retries >= (self.max_retries or 0)
        )
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error


@shared_task(name="rotations.tasks.notify_swap", bind=True, max_retries=5, default_retry_delay=60)
def notify_swap(self: Task, notice_id: int) -> int:
    """Send one swap notice (rotations.swap_notices); SMTP trouble is retried with backoff
    (each message keeps its Message-ID), a permanent refusal fails it at once."""
    from rotations import swap_notices

    try:
        return swap_notices.deliver(notice_id)
    except MailError as error:
        final = error.permanent or self.request.retries >= (self.max_retries or 0)
        swap_notices.record_failure(notice_id, error, final=final)
        if error.permanent:
            return 0
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error


@shared_task(name="rotations.tasks.resend_swap_notices")
def resend_swap_notices() -> int:
    """Beat: send the swap notices whose task message the broker lost."""
    from rotations import swap_notices

    ids = swap_notices.lost(timezone.now())
    for notice_id in ids:
        enqueue_on_commit(notify_swap, notice_id)
    return len(ids)
