"""Live progress of a campaign being sent: counts per outcome, rate and estimated finish.

Two aggregate queries whatever the audience size (counts per status and skip reason, then the
send rate over the last minute), for the admin's progress block.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_mail_counts
from mailings.models import OutboundMail

#: The window the current send rate is measured over.
RATE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class CampaignProgress:
    audience: int
    #: Waiting for a worker, or being sent right now.
    queued: int
    #: Held by a pause.
    held: int
    sent: int
    failed: int
    suppressed: int
    skipped: int
    #: Skip reason (OutboundMail.SkipReason value) -> count.
    skipped_by_reason: dict[str, int]
    #: Recipients not yet given a mail by the fan-out.
    not_queued: int
    #: Mails per second over the last minute (or since the first send, if shorter).
    rate: float
    #: When the rest should be sent at that rate (None when nothing moves or nothing is left).
    finish_eta: datetime | None

    @property
    def remaining(self) -> int:
        return self.queued + self.held + self.not_queued


def campaign_progress(*, campaign: Campaign) -> CampaignProgress:
    counts = campaign_mail_counts(campaign_id=campaign.pk)
    now = timezone.now()
    mails = OutboundMail.objects.filter(
        pk__in=CampaignRecipient.objects.filter(campaign=campaign).values("mail")
    )
    sent = Q(status=OutboundMail.Status.SENT)
    window = mails.aggregate(
        recent=Count("pk", filter=sent & Q(sent_at__gte=now - RATE_WINDOW)),
        first=Min("sent_at", filter=sent),
        last=Max("sent_at", filter=sent),
    )
    elapsed = RATE_WINDOW.total_seconds()
    if window["first"] is not None:
        since_first = (now - window["first"]).total_seconds()
        elapsed = max(1.0, min(elapsed, since_first))
    rate = window["recent"] / elapsed
    status = OutboundMail.Status
    not_queued = 0
    if campaign.status in {Campaign.Status.SENDING, Campaign.Status.PAUSED}:
        not_queued = max(0, campaign.recipients_count - campaign.queued_count)
    progress = CampaignProgress(
        audience=campaign.recipients_count,
        queued=counts[status.QUEUED] + counts[status.SENDING],
        held=counts[status.HELD],
        sent=counts[status.SENT],
        failed=counts[status.FAILED],
        suppressed=counts[status.SUPPRESSED],
        skipped=counts[status.SKIPPED],
        skipped_by_reason={
            key.split(":", 1)[1]: n for key, n in counts.items() if key.startswith("skipped:")
        },
        not_queued=not_queued,
        rate=rate,
        finish_eta=None,
    )
    moving = campaign.status in {Campaign.Status.SENDING, Campaign.Status.SENT}
    if moving and rate > 0 and progress.remaining:
        eta = now + timedelta(seconds=progress.remaining / rate)
        return CampaignProgress(**{**progress.__dict__, "finish_eta": eta})
    return progress


def campaign_has_pending(*, campaign_id: int) -> bool:
    """True while any of the campaign's mails waits or is being sent (pause/cancel apply)."""
    return OutboundMail.objects.filter(
        pk__in=CampaignRecipient.objects.filter(campaign_id=campaign_id).values("mail"),
        status__in=[OutboundMail.Status.QUEUED, OutboundMail.Status.SENDING],
    ).exists()
