"""Campaign tasks: the fan-out of a campaign into one queued mail per recipient.

On the default queue (it only inserts rows and publishes `mailings.mails_send_batch` tasks, which
the `mail` queue sends). Recovery is the task's own: `acks_late` with reject-on-worker-lost
redelivers a run whose worker died, lost connections and timeouts (OperationalError,
InterfaceError) retry with backoff, and a long campaign continues in a freshly published
run every FAN_OUT_BATCHES_PER_RUN batches. A publish lost with the broker down leaves the
campaign SENDING: beat's `campaigns_resume_stuck` publishes it again after 10 idle minutes,
and the admin's "Resume sending" does it at once (docs/decisions/0008-campaigns.md). The
service is idempotent, so every path is safe.
"""

from django.db import InterfaceError, OperationalError

from campaigns import services as campaign_services
from tasks.celery import SWEEP_SOFT_TIME_LIMIT, SWEEP_TIME_LIMIT, app


@app.task(
    name="campaigns.campaign_fan_out",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def campaign_fan_out(campaign_id: int) -> int:
    """Queue the mails of a SENDING campaign (idempotent); return how many this run queued."""
    return campaign_services.campaign_fan_out(campaign_id=campaign_id).queued


@app.task(
    name="campaigns.campaigns_resume_stuck",
    acks_late=True,
    soft_time_limit=SWEEP_SOFT_TIME_LIMIT,
    time_limit=SWEEP_TIME_LIMIT,
)
def campaigns_resume_stuck() -> int:
    """Sweeper: publish again the fan-out of campaigns stuck in SENDING."""
    return campaign_services.campaigns_resume_stuck()


@app.task(
    name="campaigns.campaigns_start_due",
    acks_late=True,
    soft_time_limit=SWEEP_SOFT_TIME_LIMIT,
    time_limit=SWEEP_TIME_LIMIT,
)
def campaigns_start_due() -> int:
    """Beat: start the scheduled campaigns whose send time has come."""
    return campaign_services.campaigns_start_due()
