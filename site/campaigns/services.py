"""Campaign rules: edit drafts, send a test, schedule, send (freeze + audit + fan-out),
pause, resume, cancel.

Every entry point owns its transaction and takes keyword-only arguments; the admin's
buttons and beat's `campaigns_start_due` call them, and each writes its audit row in its own
transaction. Mail rows are created with mailings.bulk (one INSERT per fan-out batch, one
`mails_send_batch` task per MAIL_BATCH_SIZE rows published after commit); the `mail` queue
checks each recipient's consent again right before sending (mailings.consent). Pause holds
the campaign's queued mails (no new batch is claimed; batches in flight finish), resume
releases and re-publishes them, cancel skips them with the reason "cancelled".

The fan-out (`campaign_fan_out`, run by the `campaigns.campaign_fan_out` task) is idempotent
and resumable: each batch locks the campaign, records its recipients with ON CONFLICT DO
NOTHING and creates a mail only for a recipient row that has none, so a redelivered or
duplicated task never doubles a mail and a task that died midway continues where the last
committed batch ended. See docs/decisions/0008-campaigns.md.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors import campaign_audience
from config import jobs
from contacts.services import unsubscribe_url
from core.audit import audit_record
from core.exceptions import AppError
from mailings.bulk import mails_cancel, mails_hold, mails_release, outbound_mails_create_many
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create

logger = logging.getLogger(__name__)

#: The mail template of every campaign (templates/emails/campaign.*).
TEMPLATE = "campaign"
#: Contacts per fan-out transaction: one INSERT of recipients, one of mails, one UPDATE.
FAN_OUT_BATCH = 2000
#: Batches per task run; the rest continues in a freshly published task, which keeps every
#: run well inside the task time limit.
FAN_OUT_BATCHES_PER_RUN = 20
#: Campaigns started per run of beat's due scan (the rest start a minute later).
START_DUE_LIMIT = 20


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
    """Freeze a draft, or start a scheduled campaign (SENDING), audit it, and start the
    fan-out after commit.

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
    elif locked.status in {Campaign.Status.DRAFT, Campaign.Status.SCHEDULED}:
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


def _mail_ids(campaign: Campaign) -> QuerySet[Any]:
    """The campaign's mail ids, as a subquery (mailings.bulk updates them in one statement)."""
    return CampaignRecipient.objects.filter(campaign=campaign, mail__isnull=False).values("mail")


@transaction.atomic(durable=True)
def campaign_schedule(*, campaign: Campaign, send_at: datetime, actor: Any) -> Campaign:
    """Freeze a draft until `send_at` (SCHEDULED); beat's due scan starts it then.

    A scheduled campaign is frozen like one being sent; "Cancel" ends it before it starts.
    Nothing is published now: a Celery countdown would outlive the broker's visibility
    timeout, so the row is the schedule.
    """
    if timezone.is_naive(send_at):
        raise AppError("The send time needs a time zone.")
    if send_at <= timezone.now():
        raise AppError("Choose a time in the future (or use “Send now”).")
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status not in {Campaign.Status.DRAFT, Campaign.Status.SCHEDULED}:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    locked.status = Campaign.Status.SCHEDULED
    locked.send_at = send_at
    locked.save(update_fields=["status", "send_at", "updated_at"])
    audit_record(
        actor=actor, action="campaign_schedule", object_repr=str(locked),
        detail={"campaign_id": locked.pk, "send_at": send_at.isoformat(),
                "version": locked.content_version},
    )  # fmt: skip
    return locked


def campaigns_start_due(*, limit: int = START_DUE_LIMIT) -> int:
    """Beat: start SCHEDULED campaigns whose `send_at` has come (indexed: `campaign_due`).

    Each start is `campaign_send` (its own transaction and audit row, by the system); a
    campaign cancelled meanwhile is skipped. Returns how many started.
    """
    due = list(
        Campaign.objects.filter(status=Campaign.Status.SCHEDULED, send_at__lte=timezone.now())
        .order_by("send_at")
        .values_list("pk", flat=True)[:limit]
    )
    started = 0
    for pk in due:
        try:
            campaign_send(campaign=Campaign(pk=pk), actor=None)
        except CampaignStateError:
            continue  # cancelled or started between the scan and the lock
        started += 1
    return started


@transaction.atomic(durable=True)
def campaign_pause(*, campaign: Campaign, actor: Any) -> int:
    """Pause a campaign being sent: its queued mails are held (no new batch is claimed;
    batches already claimed finish). The fan-out stops between batches. Returns how many
    mails were held."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status not in {Campaign.Status.SENDING, Campaign.Status.SENT}:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    held = mails_hold(mail_ids=_mail_ids(locked))
    if locked.status == Campaign.Status.SENT and not held:
        raise CampaignStateError("Every mail of this campaign has already gone out.")
    locked.paused_from, locked.status = locked.status, Campaign.Status.PAUSED
    locked.save(update_fields=["status", "paused_from", "updated_at"])
    audit_record(
        actor=actor, action="campaign_pause", object_repr=str(locked),
        detail={"campaign_id": locked.pk, "held": held},
    )  # fmt: skip
    return held


@transaction.atomic(durable=True)
def campaign_resume(*, campaign: Campaign, actor: Any) -> int:
    """Resume a paused campaign: its held mails are queued and their batches published
    after commit, and an unfinished fan-out continues. Returns how many mails resumed."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != Campaign.Status.PAUSED:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    locked.status = locked.paused_from or Campaign.Status.SENDING
    locked.paused_from = ""
    locked.save(update_fields=["status", "paused_from", "updated_at"])
    released = mails_release(mail_ids=_mail_ids(locked))
    if locked.status == Campaign.Status.SENDING:
        transaction.on_commit(lambda: jobs.enqueue_campaign_fan_out(locked.pk))
    audit_record(
        actor=actor, action="campaign_resume", object_repr=str(locked),
        detail={"campaign_id": locked.pk, "released": released},
    )  # fmt: skip
    return released


@transaction.atomic(durable=True)
def campaign_cancel(*, campaign: Campaign, actor: Any) -> int:
    """Cancel a draft or a scheduled campaign, or stop one being sent or paused: the fan-out
    stops between batches and every mail not yet claimed is skipped ("cancelled"); batches
    already claimed finish. Returns how many mails were skipped."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    stoppable = {Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.SENDING,
                 Campaign.Status.PAUSED, Campaign.Status.SENT}  # fmt: skip
    if locked.status not in stoppable:
        raise CampaignStateError(f"This campaign is {locked.get_status_display().lower()}.")
    skipped = mails_cancel(mail_ids=_mail_ids(locked), reason=OutboundMail.SkipReason.CANCELLED)
    if locked.status == Campaign.Status.SENT and not skipped:
        raise CampaignStateError("Every mail of this campaign has already gone out.")
    locked.status = Campaign.Status.CANCELLED
    locked.paused_from = ""
    locked.save(update_fields=["status", "paused_from", "updated_at"])
    audit_record(
        actor=actor, action="campaign_cancel", object_repr=str(locked),
        detail={"campaign_id": locked.pk, "queued": locked.queued_count, "skipped": skipped},
    )  # fmt: skip
    return skipped


@dataclass(frozen=True)
class FanOutResult:
    #: Mails queued by this run.
    queued: int
    #: True when the campaign is SENT (or no longer SENDING): nothing left to do.
    done: bool


_RECIPIENTS = CampaignRecipient._meta.db_table
#: Record recipients; only rows new to this campaign come back (ON CONFLICT DO NOTHING).
_RECIPIENTS_INSERT_SQL = (
    f"INSERT INTO {_RECIPIENTS} (campaign_id, contact_id, created_at)"  # noqa: S608 (model constant)
    " SELECT %s, c, %s FROM unnest(%s::bigint[]) AS c"
    " ON CONFLICT (campaign_id, contact_id) DO NOTHING RETURNING id, contact_id"
)
_RECIPIENTS_LINK_SQL = (
    f"UPDATE {_RECIPIENTS} AS r SET mail_id = v.mail_id"  # noqa: S608 (model constant)
    " FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, mail_id)"
    " WHERE r.id = v.id AND r.mail_id IS NULL"
)


def _fan_out_batch(*, campaign_id: int, batch_size: int) -> tuple[int, bool]:
    """One transaction: record up to `batch_size` new recipients and queue their mails.

    Returns (mails queued, finished). The campaign row lock serialises concurrent runs of
    the same campaign; the unique (campaign, contact) constraint with ON CONFLICT DO NOTHING
    (mails are created only for the rows this INSERT added) makes a double run harmless even
    without it. Audience rules are applied now, not at "Send now": a contact who
    unsubscribed or was suppressed in between is skipped. Contacts are taken in id order
    after the last one recorded (keyset), so each batch is an index range, not a rescan.
    """
    with transaction.atomic(durable=True):
        campaign = (
            Campaign.objects.select_for_update(of=("self",)).select_related("segment")
            .filter(pk=campaign_id).first()
        )  # fmt: skip
        if campaign is None or campaign.status != Campaign.Status.SENDING:
            return 0, True
        recorded = CampaignRecipient.objects.filter(campaign=campaign)
        last = recorded.aggregate(last=Max("contact_id"))["last"] or 0
        rows = list(
            campaign_audience(campaign=campaign)
            .filter(pk__gt=last)
            .exclude(Exists(recorded.filter(contact_id=OuterRef("pk"))))
            .values_list("pk", "email", "subscription__pk")[:batch_size]
        )
        batch = list({pk: (pk, email, sub) for pk, email, sub in rows}.values())
        queued = 0
        if batch:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(_RECIPIENTS_INSERT_SQL, [campaign.pk, now, [r[0] for r in batch]])
                new = {contact_id: pk for pk, contact_id in cursor.fetchall()}
            fresh = [(pk, email, sub) for pk, email, sub in batch if pk in new]
            mails = outbound_mails_create_many(
                recipients=[
                    (email, unsubscribe_url(subscription_id=sub)) for _, email, sub in fresh
                ],
                template=TEMPLATE,
                context=campaign_mail_context(campaign=campaign),
                category=OutboundMail.Category.MARKETING,
            )
            links = [(new[pk], mails[email]) for pk, email, _ in fresh if email in mails]
            with connection.cursor() as cursor:
                cursor.execute(_RECIPIENTS_LINK_SQL, [[r for r, _ in links], [m for _, m in links]])
            queued = len(links)
            campaign.queued_count += queued
            campaign.save(update_fields=["queued_count", "updated_at"])
        finished = len(rows) < batch_size
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
