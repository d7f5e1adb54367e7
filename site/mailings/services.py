"""Outbound mail pipeline: rows first, enqueue after commit, claim, send once, retry or fail.

Callers create mail with `outbound_mail_create` inside their own transaction; the send task is
published after commit. `mail_send` claims the row with a conditional UPDATE, so a redelivered
or duplicated task finds nothing to do; a worker that died mid-send leaves a stale claim that
`mails_requeue_stuck` (run by beat) turns back into QUEUED.
"""

import hashlib
import json
import logging
import smtplib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused, AnymailRequestsAPIError

from config import jobs
from mailings import connection as mail_connection
from mailings.compose import build_message, compose
from mailings.consent import marketing_consent_check, marketing_mails_cancel
from mailings.models import DeliveryEvent, OutboundMail, Suppression, email_hash

logger = logging.getLogger(__name__)


class TransientSendError(Exception):
    """The ESP or SMTP server may accept the mail later: the task retries with backoff."""


class PermanentSendError(Exception):
    """The mail can never be sent as it is (refused recipient, 4xx from the API)."""


# -- Suppression ------------------------------------------------------------------------------


#: `suppression_check` runs before every send: one indexed lookup, without ORM compilation.
_SUPPRESSED_SQL = f"SELECT 1 FROM {Suppression._meta.db_table} WHERE email_hash = %s LIMIT 1"  # noqa: S608 (model constant)


def suppression_check(*, email: str) -> bool:
    """True if the address (in any case, padded or not) is on the suppression list."""
    with connection.cursor() as cursor:
        cursor.execute(_SUPPRESSED_SQL, [email_hash(email)])
        return cursor.fetchone() is not None


def suppression_add(*, email: str, reason: str, detail: str = "") -> Suppression:
    """Suppress an address globally; idempotent, and never replaced by a weaker event."""
    suppression, _ = Suppression.objects.get_or_create(
        email_hash=email_hash(email), defaults={"reason": reason, "detail": detail[:300]}
    )
    return suppression


def suppression_lift(*, email: str) -> int:
    """Only for an explicit admin action: remove the address from the suppression list."""
    deleted, _ = Suppression.objects.filter(email_hash=email_hash(email)).delete()
    return deleted


def suppressions_lift(*, ids: list[int]) -> int:
    """Admin action: lift suppressions by row id."""
    deleted, _ = Suppression.objects.filter(pk__in=ids).delete()
    return deleted


# -- Creating mail -----------------------------------------------------------------------------


def outbound_mail_create(
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    category: str = OutboundMail.Category.TRANSACTIONAL,
    unsubscribe_url: str = "",
    attachment: tuple[str, str] | None = None,
) -> OutboundMail:
    """Create a QUEUED mail row and publish its send task after the caller's commit.

    Call it inside the transaction of the action that causes the mail: if that rolls back,
    no row and no task exist. `attachment` is (storage name, download file name).
    `context` must be JSON-serialisable and hold no secrets beyond signed tokens.
    """
    mail = OutboundMail.objects.create(
        to_email=to,
        template=template,
        context=context,
        category=category,
        unsubscribe_url=unsubscribe_url,
        attachment_name=attachment[0] if attachment else "",
        attachment_filename=attachment[1] if attachment else "",
        enqueued_at=timezone.now(),
    )
    transaction.on_commit(lambda: jobs.enqueue_mail_send(mail.pk))
    return mail


# -- Sending -----------------------------------------------------------------------------------


_TABLE = OutboundMail._meta.db_table
#: Claim and load in one statement: a QUEUED row, or a SENDING row whose claim went stale (its
#: worker died), becomes SENDING with a fresh claim. Row locking makes the WHERE see the latest
#: committed row, so of two concurrent deliveries of one task exactly one gets the row back.
_CLAIM_SQL = (
    f"UPDATE {_TABLE} SET status = %s, claimed_at = %s, attempts = attempts + 1"  # noqa: S608 (model constants)
    " WHERE id = %s AND (status = %s OR (status = %s AND claimed_at < %s))"
    " RETURNING to_email, template, context, unsubscribe_url, attachment_name,"
    " attachment_filename, attempts, category"
)
#: End a claim: the outcome, and for a sent mail when and under which ESP message id.
_FINISH_SQL = (
    f"UPDATE {_TABLE} SET status = %s, claimed_at = NULL, last_error = %s, skip_reason = %s,"  # noqa: S608 (model constants)
    " sent_at = COALESCE(%s, sent_at), esp_message_id = COALESCE(%s, esp_message_id)"
    " WHERE id = %s"
)


@dataclass(frozen=True)
class _Claimed:
    """What sending needs of a claimed row; `attempts` counts this attempt."""

    to_email: str
    template: str
    context: dict[str, Any]
    unsubscribe_url: str
    attachment_name: str
    attachment_filename: str
    attempts: int
    category: str


def _claim(mail_id: int) -> _Claimed | None:
    """The claimed mail, or None when the row is not claimable (sent, failed, claimed).

    Hand-written SQL because it runs for every mail: one round trip instead of an UPDATE
    followed by a SELECT, and no ORM compilation or model instance.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MAIL_CLAIM_TIMEOUT)
    status = OutboundMail.Status
    adapt = connection.ops.adapt_datetimefield_value
    params = [status.SENDING, adapt(now), mail_id, status.QUEUED, status.SENDING, adapt(stale)]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    to_email, template, context, unsubscribe_url, name, filename, attempts, category = row
    context = OutboundMail._meta.get_field("context").from_db_value(context, None, connection)
    return _Claimed(
        to_email, template, context, unsubscribe_url, name, filename, attempts, category
    )


def _classify(exc: Exception) -> type[Exception]:
    """Transient (retry) or permanent (fail) for an error raised while sending."""
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError
    if isinstance(exc, AnymailRequestsAPIError):
        status = exc.status_code or 0
        transient = status == 429 or status >= 500 or not status
        return TransientSendError if transient else PermanentSendError
    if isinstance(exc, AnymailAPIError):
        return PermanentSendError
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
        return PermanentSendError
    if isinstance(exc, smtplib.SMTPResponseException):
        return TransientSendError if 400 <= exc.smtp_code < 500 else PermanentSendError
    if isinstance(exc, smtplib.SMTPException | OSError | socket.timeout | ConnectionError):
        return TransientSendError
    return PermanentSendError


def _describe(exc: Exception) -> str:
    try:
        text = str(exc)
    except Exception:  # some library errors cannot render without their HTTP response
        text = repr(exc.args)
    return f"{type(exc).__name__}: {text}"[:2000]


def _finish(
    mail_id: int,
    *,
    status: str,
    last_error: str = "",
    skip_reason: str = "",
    sent_at: datetime | None = None,
    esp_message_id: str | None = None,
) -> None:
    """Release the claim with the outcome (one UPDATE; hand-written like `_claim`)."""
    sent_at_value = connection.ops.adapt_datetimefield_value(sent_at)
    params = [status, last_error, skip_reason, sent_at_value, esp_message_id, mail_id]
    with connection.cursor() as cursor:
        cursor.execute(_FINISH_SQL, params)


def mail_send(*, mail_id: int) -> str:
    """Send one QUEUED mail. Idempotent: anything but a claimable row is a no-op.

    Returns the final status, "nothing-to-do" or "in-progress" (another attempt holds a
    fresh claim; if that attempt died, the claim goes stale and a later call sends).
    Raises TransientSendError (after putting the row back to QUEUED) when the caller should
    retry later; permanent failures end FAILED and do not raise. Right before sending, after
    the claim, one query decides: a marketing mail needs consent now (`mailings.consent`,
    which covers the suppression list; SKIPPED with the reason otherwise), any other mail an
    unsuppressed address (SUPPRESSED otherwise). The message goes out on this thread's open
    connection to the ESP (`mailings.connection`).
    """
    mail = _claim(mail_id)
    if mail is None:
        busy = OutboundMail.objects.filter(pk=mail_id, status=OutboundMail.Status.SENDING)
        return "in-progress" if busy.exists() else "nothing-to-do"
    if mail.category == OutboundMail.Category.MARKETING:
        reason = marketing_consent_check(emails=[mail.to_email])[mail.to_email]
        if reason is not None:
            _finish(mail_id, status=OutboundMail.Status.SKIPPED, skip_reason=reason)
            return OutboundMail.Status.SKIPPED
    elif suppression_check(email=mail.to_email):
        _finish(mail_id, status=OutboundMail.Status.SUPPRESSED, last_error="address is suppressed")
        return OutboundMail.Status.SUPPRESSED
    return send_claimed(mail_id=mail_id, mail=mail)


def send_claimed(*, mail_id: int, mail: _Claimed) -> str:
    """Compose and send one row the caller has claimed (and checked); finish it.

    Returns SENT or FAILED; raises TransientSendError after putting the row back to QUEUED.
    The batch path (`mailings.batch`) uses it for rows it cannot batch.
    """
    try:
        composed = compose(
            template=mail.template, context=mail.context, unsubscribe_url=mail.unsubscribe_url
        )
        attachment = None
        if mail.attachment_name:
            with default_storage.open(mail.attachment_name, "rb") as handle:
                attachment = (mail.attachment_filename, handle.read())
        message = build_message(to=mail.to_email, composed=composed, attachment=attachment)
        mail_connection.send(message)
    except Exception as exc:
        kind = _classify(exc)
        error = _describe(exc)
        if kind is TransientSendError and mail.attempts < settings.MAIL_MAX_ATTEMPTS:
            _finish(mail_id, status=OutboundMail.Status.QUEUED, last_error=error)
            logger.warning("mail %s: transient send error, will retry: %s", mail_id, error)
            raise TransientSendError(error) from exc
        _finish(mail_id, status=OutboundMail.Status.FAILED, last_error=error)
        logger.error("mail %s failed permanently: %s", mail_id, error)
        return OutboundMail.Status.FAILED

    status = getattr(message, "anymail_status", None)
    message_id = (status.message_id if status else None) or message.extra_headers["Message-ID"]
    _finish(
        mail_id,
        status=OutboundMail.Status.SENT,
        sent_at=timezone.now(),
        esp_message_id=str(message_id)[:200],
    )
    return OutboundMail.Status.SENT


def mails_retry_failed(*, mail_ids: list[int]) -> int:
    """Admin action: put FAILED mails back in the queue (suppression is checked again)."""
    ids = list(
        OutboundMail.objects.filter(pk__in=mail_ids, status=OutboundMail.Status.FAILED).values_list(
            "pk", flat=True
        )
    )
    OutboundMail.objects.filter(pk__in=ids).update(
        status=OutboundMail.Status.QUEUED, attempts=0, enqueued_at=timezone.now()
    )
    for mail_id in ids:
        transaction.on_commit(lambda mail_id=mail_id: jobs.enqueue_mail_send(mail_id))
    return len(ids)


def mails_requeue_stuck(*, limit: int = 5000) -> int:
    """Re-publish QUEUED rows whose enqueue was lost, and reclaim stale SENDING rows.

    Marketing rows are published again as batches (`mailings.mails_send_batch`), the rest
    one task a row. Safe to run at any time: sending claims rows, so an extra publish is a
    no-op. HELD rows (a paused campaign) are left alone. Returns the number of rows whose
    task was published.
    """
    from mailings.bulk import batches_publish  # bulk imports this module

    now = timezone.now()
    stale_claim = now - timedelta(seconds=settings.MAIL_CLAIM_TIMEOUT)
    OutboundMail.objects.filter(
        status=OutboundMail.Status.SENDING, claimed_at__lt=stale_claim
    ).update(status=OutboundMail.Status.QUEUED, claimed_at=None)
    waiting = now - timedelta(seconds=settings.MAIL_REQUEUE_AFTER)
    rows = list(
        OutboundMail.objects.filter(status=OutboundMail.Status.QUEUED)
        .filter(Q(enqueued_at__lt=waiting) | Q(enqueued_at__isnull=True))
        .order_by("created_at")
        .values_list("pk", "category")[:limit]
    )
    if not rows:
        return 0
    OutboundMail.objects.filter(pk__in=[pk for pk, _ in rows]).update(enqueued_at=now)
    marketing = sorted(pk for pk, category in rows if category == OutboundMail.Category.MARKETING)
    others = [pk for pk, category in rows if category != OutboundMail.Category.MARKETING]
    published = sum(1 for mail_id in others if jobs.enqueue_mail_send(mail_id))
    published += batches_publish(marketing)
    logger.info("sweeper re-enqueued %s of %s waiting mails", published, len(rows))
    return published


# -- ESP events --------------------------------------------------------------------------------

#: Events after which an address is never mailed again (monotonic: nothing lifts them).
SUPPRESSING_EVENTS = {
    "bounced": Suppression.Reason.BOUNCED,
    "complained": Suppression.Reason.COMPLAINED,
    "unsubscribed": Suppression.Reason.UNSUBSCRIBED,
}
#: `rejected` suppresses when the ESP refused because of an earlier bounce, complaint or
#: unsubscribe (its own suppression list), or because the address can never take mail.
SUPPRESSING_REJECTS = {
    "bounced": Suppression.Reason.BOUNCED,
    "invalid": Suppression.Reason.BOUNCED,
    "spam": Suppression.Reason.COMPLAINED,
    "unsubscribed": Suppression.Reason.UNSUBSCRIBED,
}
#: Event types that never change OutboundMail.delivery_status: pre-delivery steps the mail's
#: own status already tracks, and events Anymail could not classify.
STATUS_IGNORED_EVENTS = {"queued", "sent", "unknown"}

#: Mailgun's `failed` reasons for a drop caused by its own suppression lists.
_MAILGUN_SUPPRESS_REASONS = {
    "suppress-bounce": Suppression.Reason.BOUNCED,
    "suppress-complaint": Suppression.Reason.COMPLAINED,
    "suppress-unsubscribe": Suppression.Reason.UNSUBSCRIBED,
}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _soft_bounce(*, esp_name: str, esp_event: Mapping[str, Any]) -> bool:
    """True for a `bounced` event that is not a permanent failure of the address.

    Anymail reports these ESPs' soft bounces as `bounced` too. We follow each ESP's own
    suppression policy: an address is suppressed where the ESP itself would stop mailing it.
    """
    if esp_name == "Postmark":
        # Postmark deactivates the address (Inactive) on hard bounces, not on soft ones.
        soft = esp_event.get("Type") in {"SoftBounce", "VirusNotification"}
        return soft and esp_event.get("Inactive") is not True
    if esp_name == "Amazon SES":
        # Only Permanent bounces go on SES's account-level suppression list.
        bounce_type = _mapping(esp_event.get("bounce")).get("bounceType")
        return bounce_type in {"Transient", "Undetermined"}
    if esp_name == "SendGrid":
        # type "blocked" goes on SendGrid's Blocks list, which does not stop later sends.
        return str(esp_event.get("type") or "").lower() == "blocked"
    if esp_name == "Mailgun":
        # reason "old": retries on temporary errors ran out; the address is not known bad.
        return _mapping(esp_event.get("event-data")).get("reason") == "old"
    return False


def _tracking_outcome(*, event: Any, esp_name: str) -> tuple[str, str, str | None]:
    """(event type, reject reason, suppression reason or None) of an Anymail tracking event.

    Anymail's normalized type, refined from the ESP payload where Anymail leaves a documented
    ESP event as `unknown` or cannot tell a soft bounce from a hard one.
    """
    event_type = str(event.event_type or "unknown")
    reject_reason = str(event.reject_reason or "")
    esp_event = _mapping(event.esp_event)

    if esp_name == "Amazon SES" and event_type == "unknown":
        ses_type = esp_event.get("eventType")
        if ses_type == "DeliveryDelay":
            event_type = "deferred"
        elif ses_type == "Subscription":
            # SES list management: only "unsubscribe from all" is a global opt-out.
            subscription = _mapping(esp_event.get("subscription"))
            preferences = _mapping(subscription.get("newTopicPreferences"))
            if preferences.get("unsubscribeAll") is True:
                event_type, reject_reason = "unsubscribed", "unsubscribed"
    sendgrid_drop = esp_name == "SendGrid" and event_type == "rejected"
    if sendgrid_drop and "spam" in str(esp_event.get("reason") or "").lower():
        # Anymail maps SendGrid's "Spam Reporting Address" drop to "other".
        reject_reason = "spam"

    if event_type == "rejected":
        return event_type, reject_reason, SUPPRESSING_REJECTS.get(reject_reason)
    if event_type == "bounced":
        if _soft_bounce(esp_name=esp_name, esp_event=esp_event):
            return event_type, reject_reason, None
        if esp_name == "Mailgun":
            mailgun_reason = _mapping(esp_event.get("event-data")).get("reason")
            if mailgun_reason in _MAILGUN_SUPPRESS_REASONS:
                return event_type, reject_reason, _MAILGUN_SUPPRESS_REASONS[mailgun_reason]
    if event_type == "complained" and esp_name == "Amazon SES":
        # A feedback report that says "not spam" is the opposite of a complaint.
        feedback = _mapping(esp_event.get("complaint")).get("complaintFeedbackType")
        if feedback == "not-spam":
            return event_type, reject_reason, None
    return event_type, reject_reason, SUPPRESSING_EVENTS.get(event_type)


def _event_key(*, event: Any, esp_name: str, recipient: str) -> str:
    """The dedupe key stored as DeliveryEvent.event_id: the ESP's event id per recipient.

    Some ESPs give every recipient of one notification the same id (Amazon SES uses the SNS
    MessageId), so the recipient is part of the key. Mailgun's event id is unique only within
    a day and Anymail uses the signature token instead, which a re-signed retry would change:
    we key Mailgun events on id plus their exact timestamp. Without an ESP id (Postmark
    deliveries, minimal payloads), a hash of the payload: a replay is a byte-identical payload.
    """
    recipient_part = email_hash(recipient)[:16] if recipient else ""
    event_id = str(event.event_id or "")
    if esp_name == "Mailgun":
        data = _mapping(_mapping(event.esp_event).get("event-data"))
        if data.get("id") and data.get("timestamp") is not None:
            event_id = f"{data['id']}@{data['timestamp']}"
    if event_id:
        key = f"{event_id}/{recipient_part}" if recipient_part else event_id
        if len(key) <= 200:
            return key
    try:
        payload = json.dumps(event.esp_event, sort_keys=True, default=str)
    except (TypeError, ValueError):
        payload = repr(event.esp_event)
    material = "|".join(
        [str(event.event_id), str(event.event_type), str(event.message_id), recipient_part,
         str(event.timestamp), payload]
    )  # fmt: skip
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()


def _mail_for_message_id(message_id: object) -> OutboundMail | None:
    """The mail an ESP message id belongs to, with or without angle brackets around it."""
    raw = str(message_id or "").strip()
    bare = raw.strip("<>")
    if not bare:
        return None
    candidates = {raw[:200], bare[:200], f"<{bare}>"[:200]}
    return OutboundMail.objects.filter(esp_message_id__in=candidates).order_by("pk").first()


def delivery_event_record(*, event: Any, esp_name: str) -> DeliveryEvent | None:
    """Store an Anymail tracking event once and apply it: status on the mail, suppression.

    Replays (same ESP, event id and recipient) are no-ops and return None. Hard bounces,
    complaints, ESP unsubscribes and rejections for those reasons suppress the address
    globally and skip its queued marketing mails; nothing here ever lifts a suppression. The
    caller (the tracking receiver) must not let an error reach the ESP as a 4xx, which would
    make it retry forever.
    """
    recipient = str(event.recipient or "").strip()
    event_type, reject_reason, suppress_reason = _tracking_outcome(event=event, esp_name=esp_name)
    occurred_at = event.timestamp if isinstance(event.timestamp, datetime) else None
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, UTC)
    mail = _mail_for_message_id(event.message_id)
    with transaction.atomic():
        stored, created = DeliveryEvent.objects.get_or_create(
            esp_name=str(esp_name)[:40],
            event_id=_event_key(event=event, esp_name=esp_name, recipient=recipient),
            defaults={
                "event_type": event_type[:30],
                "reject_reason": reject_reason[:30],
                "esp_message_id": str(event.message_id or "")[:200],
                "recipient_hash": email_hash(recipient) if recipient else "",
                "mail": mail,
                "occurred_at": occurred_at,
            },
        )
        if not created:
            return None
        if mail is not None and event_type not in STATUS_IGNORED_EVENTS:
            # Events can arrive out of order: an older one never overwrites a newer status.
            newer = occurred_at is not None and (
                DeliveryEvent.objects.filter(mail=mail, occurred_at__gt=occurred_at)
                .exclude(event_type__in=STATUS_IGNORED_EVENTS)
                .exists()
            )
            if not newer:
                OutboundMail.objects.filter(pk=mail.pk).update(delivery_status=event_type[:30])
        if suppress_reason and recipient:
            detail = f"{esp_name} {event_type}"
            suppression_add(email=recipient, reason=suppress_reason, detail=detail)
            marketing_mails_cancel(emails=[recipient], reason=OutboundMail.SkipReason.SUPPRESSED)
    return stored
