"""Campaign rules: edit drafts, send a test, send (freeze + audit + fan-out), cancel.

Every entry point owns its transaction and takes keyword-only arguments. Mail goes through
mailings.services.outbound_mail_create (a row in our transaction, sent after commit by the
`mail` queue, which checks the recipient's consent again right before sending: see
mailings.consent).

The fan-out (`campaign_fan_out`, run by the `campaigns.campaign_fan_out` task) is idempotent
and resumable: each batch locks the campaign, records its recipients with ON CONFLICT DO
NOTHING and creates a mail only for a recipient row that has none, so a redelivered or
duplicated task never doubles a mail and a task that died midway continues where the last
committed batch ended. See docs/decisions/0008-campaigns.md.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_audience
from config import jobs
from contacts.services import unsubscribe_url
from core.audit import audit_record
from core.exceptions import AppError
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create

logger = logging.getLogger(__name__)

#: The mail template of every campaign (templates/emails/campaign.*).
TEMPLATE = "campaign"
#: Contacts per fan-out transaction: one INSERT of recipients, then one mail row each.
FAN_OUT_BATCH = 1000
#: Batches per task run; the rest continues in a freshly published task, which keeps every
#: run well inside the task time limit (≈ 1,000 mails/s of inserts and publishes).
FAN_OUT_BATCHES_PER_RUN = 20


class CampaignStateError(AppError):
    """The campaign is not in a state that allows this (e.g. editing a sent campaign)."""


def campaign_mail_context(*, campaign: Campaign, test: bool = False) -> dict[str, Any]:
    """The context of a campaign mail row: ids only; the templates load the content."""
    return {"campaign_id": campaign.pk, "version": campaign.content_version, "test": test}


@transaction.atomic  # not durable: the admin's change form runs it inside its own atomic
def campaign_draft_save(*, campaign: Campaign, actor: Any) -> Campaign:
    """Create or update a draft (the admin form's save). Anything but a draft is frozen."""
    if campaign.pk is not None:
        current = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if current.status != Campaign.Status.DRAFT:
            raise CampaignStateError("Only a draft can be edited.")
    elif getattr(actor, "is_authenticated", False):
        campaign.created_by = actor
    campaign.status = Campaign.Status.DRAFT
    if campaign.audience == Campaign.Audience.ALL:
        campaign.segment = None
    campaign.save()
    return campaign


@transaction.atomic(durable=True)
def campaign_send_test(*, campaign: Campaign, to: str) -> OutboundMail:
    """Queue one copy of the campaign, subject marked [TEST], to `to` (the staff user).

    It goes through the normal pipeline (suppression included) and carries no unsubscribe
    link: the address need not be a subscriber. It is transactional, sent at the staff
    user's own request, so the subscriber consent check at send time does not apply. Works
    in any status.
    """
    if not to:
        raise AppError("Your staff account has no email address to send the test to.")
    return outbound_mail_create(
        to=to,
        template=TEMPLATE,
        context=campaign_mail_context(campaign=campaign, test=True),
        category=OutboundMail.Category.TRANSACTIONAL,
    )


@transaction.atomic(durable=True)
def campaign_send(*, campaign: Campaign, actor: Any) -> Campaign:
    """Freeze a draft (SENDING), audit it, and start the fan-out after commit.

    On a campaign already SENDING (its fan-out stalled: the enqueue was lost with the broker
    down, or the task gave up), it publishes the fan-out again; that is safe because the
    fan-out is idempotent. Anything else raises CampaignStateError.
    """
    from campaigns.preflight import campaign_preflight_assert  # preflight imports this module

    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    campaign_preflight_assert(campaign=locked)  # a blocker (no audience, sender...) refuses
    if locked.status == Campaign.Status.SENDING:
        audit_record(
            actor=actor, action="campaign_resume", object_repr=str(locked),
            detail={"campaign_id": locked.pk, "queued": locked.queued_count},
        )  # fmt: skip
    elif locked.status == Campaign.Status.DRAFT:
        locked.status = Campaign.Status.SENDING
        locked.send_started_at = timezone.now()
        locked.recipients_count = campaign_audience(campaign=locked).count()
        locked.save(update_fields=["status", "send_started_at", "recipients_count", "updated_at"])
        audit_record(
            actor=actor,
            action="campaign_send",
            object_repr=str(locked),
            detail={
                "campaign_id": locked.pk,
                "audience": locked.audience,
                "segment_id": locked.segment_id,
                "recipients": locked.recipients_count,
                "version": locked.content_version,
            },
        )
    else:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    transaction.on_commit(lambda: jobs.enqueue_campaign_fan_out(locked.pk))
    logger.info("campaign %s: sending to %s recipients", locked.pk, locked.recipients_count)
    return locked


@transaction.atomic(durable=True)
def campaign_cancel(*, campaign: Campaign, actor: Any) -> Campaign:
    """Cancel a draft, or stop a fan-out between batches (mails already queued still go)."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status not in {Campaign.Status.DRAFT, Campaign.Status.SENDING}:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    locked.status = Campaign.Status.CANCELLED
    locked.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor, action="campaign_cancel", object_repr=str(locked),
        detail={"campaign_id": locked.pk, "queued": locked.queued_count},
    )  # fmt: skip
    return locked


@dataclass(frozen=True)
class FanOutResult:
    #: Mails queued by this run.
    queued: int
    #: True when the campaign is SENT (or no longer SENDING): nothing left to do.
    done: bool


def _fan_out_batch(*, campaign_id: int, batch_size: int) -> tuple[int, bool]:
    """One transaction: record up to `batch_size` new recipients and queue their mails.

    Returns (mails queued, finished). The campaign row lock serialises concurrent runs of
    the same campaign; the unique (campaign, contact) constraint with ON CONFLICT DO NOTHING,
    and creating a mail only for a recipient row without one, make a double run harmless
    even without it. Audience rules are applied now, not at "Send now": a contact who
    unsubscribed or was suppressed in between is skipped.
    """
    with transaction.atomic(durable=True):
        campaign = (
            Campaign.objects.select_for_update(of=("self",)).select_related("segment")
            .filter(pk=campaign_id).first()
        )  # fmt: skip
        if campaign is None or campaign.status != Campaign.Status.SENDING:
            return 0, True
        recorded = CampaignRecipient.objects.filter(campaign=campaign, contact_id=OuterRef("pk"))
        batch = list(
            campaign_audience(campaign=campaign)
            .exclude(Exists(recorded))
            .values_list("pk", "email", "subscription__pk")[:batch_size]
        )
        queued = 0
        if batch:
            CampaignRecipient.objects.bulk_create(
                [CampaignRecipient(campaign=campaign, contact_id=pk) for pk, _, _ in batch],
                ignore_conflicts=True,
            )
            waiting = dict(
                CampaignRecipient.objects.filter(
                    campaign=campaign, contact_id__in=[pk for pk, _, _ in batch], mail=None
                ).values_list("contact_id", "pk")
            )
            context = campaign_mail_context(campaign=campaign)
            linked = []
            for contact_id, email, subscription_id in batch:
                if contact_id not in waiting:
                    continue
                mail = outbound_mail_create(
                    to=email,
                    template=TEMPLATE,
                    context=context,
                    category=OutboundMail.Category.MARKETING,
                    unsubscribe_url=unsubscribe_url(subscription_id=subscription_id),
                )
                linked.append(CampaignRecipient(pk=waiting[contact_id], mail_id=mail.pk))
            CampaignRecipient.objects.bulk_update(linked, ["mail"], batch_size=500)
            queued = len(linked)
            campaign.queued_count += queued
            campaign.save(update_fields=["queued_count", "updated_at"])
        finished = len(batch) < batch_size
        if finished:
            campaign.status = Campaign.Status.SENT
            campaign.sent_at = timezone.now()
            campaign.save(update_fields=["status", "sent_at", "updated_at"])
            logger.info("campaign %s sent: %s mails queued", campaign.pk, campaign.queued_count)
        return queued, finished


def campaign_fan_out(
    *,
    campaign_id: int,
    batch_size: int = FAN_OUT_BATCH,
    max_batches: int = FAN_OUT_BATCHES_PER_RUN,
) -> FanOutResult:
    """Queue one mail per recipient of a SENDING campaign, in batches, then mark it SENT.

    Idempotent and resumable (each batch commits on its own and skips contacts already
    recorded). After `max_batches` it publishes itself again after its last commit and
    returns `done=False`; a campaign that is not SENDING (sent, cancelled, deleted) is a no-op.
    """
    queued = 0
    for _ in range(max_batches):
        count, finished = _fan_out_batch(campaign_id=campaign_id, batch_size=batch_size)
        queued += count
        if finished:
            return FanOutResult(queued=queued, done=True)
    jobs.enqueue_campaign_fan_out(campaign_id)
    return FanOutResult(queued=queued, done=False)


def campaigns_resume_stuck(*, idle_seconds: int = 600) -> int:
    """Sweeper: publish the fan-out again for SENDING campaigns with no batch for
    `idle_seconds` (the publish was lost with the broker down, or the retries ran out).

    Every batch saves the campaign (updated_at), so a running fan-out is never idle that
    long; a duplicate run is harmless anyway (row lock, unique recipients). Returns the
    number published.
    """
    idle_since = timezone.now() - timedelta(seconds=idle_seconds)
    ids = Campaign.objects.filter(
        status=Campaign.Status.SENDING, updated_at__lt=idle_since
    ).values_list("pk", flat=True)
    published = [pk for pk in ids if jobs.enqueue_campaign_fan_out(pk)]
    if published:
        logger.info("sweeper resumed %s stuck campaign fan-outs", len(published))
    return len(published)
