from mailings import batch as mail_batch
from mailings import services as mailing_services
from tasks.celery import SWEEP_SOFT_TIME_LIMIT, SWEEP_TIME_LIMIT, app


@app.task(
    bind=True,
    name="mailings.mail_send",
    autoretry_for=(mailing_services.TransientSendError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=7,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def mail_send(self, mail_id: int) -> str:
    """Send one outbound mail row (a no-op unless it is QUEUED or its claim is stale).

    A redelivery that finds the row claimed (its first worker may have been killed mid-send)
    checks again once that claim has gone stale.
    """
    from django.conf import settings

    result = mailing_services.mail_send(mail_id=mail_id)
    if result == "in-progress" and self.request.retries < 3:
        raise self.retry(countdown=settings.MAIL_CLAIM_TIMEOUT + 1)
    return result


@app.task(
    name="mailings.mails_requeue_stuck",
    acks_late=True,
    soft_time_limit=SWEEP_SOFT_TIME_LIMIT,
    time_limit=SWEEP_TIME_LIMIT,
)
def mails_requeue_stuck() -> int:
    """Sweeper: re-publish mail rows whose enqueue was lost or whose worker died."""
    return mailing_services.mails_requeue_stuck()


@app.task(
    bind=True,
    name="mailings.mails_send_batch",
    autoretry_for=(mailing_services.TransientSendError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=7,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def mails_send_batch(self, mail_ids: list[int]) -> int:
    """Send a batch of outbound mail rows (one ESP call where the ESP batches); the queued
    ones among `mail_ids` only. Returns how many were sent.

    Rows another attempt holds with a fresh claim (its worker may have been killed) are
    retried once that claim can be stale; a transient ESP error retries the whole batch.
    """
    from django.conf import settings

    result = mail_batch.mail_batch_send(mail_ids=mail_ids)
    if result.busy and self.request.retries < 3:
        raise self.retry(args=[result.busy], countdown=settings.MAIL_CLAIM_TIMEOUT + 1)
    return result.sent
