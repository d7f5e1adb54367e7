"""Batch sending: many QUEUED mail rows, one claim, one consent check, one ESP call.

`mail_batch_send` (run by the `mailings.mails_send_batch` task, one task per batch) claims up
to MAIL_BATCH_SIZE rows in one conditional UPDATE, asks `mailings.consent` once about every
marketing row, composes each (template, context) group once with the ESP's merge fields for
the per-recipient links, and sends it as one Anymail batch message with per-recipient
`merge_data` and `merge_headers` (List-Unsubscribe, List-Unsubscribe-Post). Each recipient's
outcome comes back from `message.anymail_status.recipients`, and rows are finished in bulk:
one UPDATE for the sent ones (with their ESP message ids), one per failure reason.

Where the backend cannot batch with per-recipient headers and links (`mailings.esp`: SMTP,
console, ESPs without merge_headers), and for rows with attachments or no unsubscribe URL,
each row goes through the single-mail path (`services.send_claimed`) in the same task.

The send rate per ESP is shared across workers and hosts (`mailings.ratelimit`). A transient
error (429, 5xx, connection) puts the batch's rows back to QUEUED and raises
TransientSendError, so the task retries the whole batch with backoff; a permanent one ends
only the affected recipients FAILED with the reason.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from anymail.exceptions import AnymailRequestsAPIError

from mailings import connection as mail_connection
from mailings import ratelimit
from mailings.compose import build_batch_message, compose_batch, unsubscribe_headers
from mailings.consent import marketing_consent_check
from mailings.esp import BatchSupport, batch_support
from mailings.models import OutboundMail, Suppression, email_hash
from mailings.services import (
    PermanentSendError,
    TransientSendError,
    _Claimed,
    _classify,
    _describe,
    send_claimed,
)

logger = logging.getLogger(__name__)

_TABLE = OutboundMail._meta.db_table
_Status = OutboundMail.Status

#: Claim many rows and load them in one statement (see services._CLAIM_SQL for one row).
_CLAIM_MANY_SQL = (
    f"UPDATE {_TABLE} SET status = %s, claimed_at = %s, attempts = attempts + 1"  # noqa: S608 (model constants)
    " WHERE id = ANY(%s) AND (status = %s OR (status = %s AND claimed_at < %s))"
    " RETURNING id, to_email, template, context, unsubscribe_url, attachment_name,"
    " attachment_filename, attempts, category"
)
#: End many claims with one outcome (FAILED, SKIPPED, SUPPRESSED or back to QUEUED).
_FINISH_MANY_SQL = (
    f"UPDATE {_TABLE} SET status = %s, claimed_at = NULL, last_error = %s, skip_reason = %s,"  # noqa: S608 (model constants)
    " enqueued_at = CASE WHEN %s THEN %s ELSE enqueued_at END"
    " WHERE id = ANY(%s) AND status = %s"
)
#: End many claims as SENT, each with its own ESP message id.
_SENT_MANY_SQL = (
    f"UPDATE {_TABLE} AS m SET status = %s, claimed_at = NULL, last_error = '', sent_at = %s,"  # noqa: S608 (model constants)
    " esp_message_id = v.message_id FROM unnest(%s::bigint[], %s::text[]) AS v(id, message_id)"
    " WHERE m.id = v.id AND m.status = %s"
)
_SUPPRESSED_MANY_SQL = (
    f"SELECT email_hash FROM {Suppression._meta.db_table} WHERE email_hash = ANY(%s)"  # noqa: S608 (model constant)
)

#: Anymail recipient statuses that mean the ESP accepted the message for that recipient.
ACCEPTED = {"sent", "queued"}


@dataclass
class BatchResult:
    """How the rows of one batch ended (ids not claimed are counted in `not_claimed`)."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    suppressed: int = 0
    requeued: int = 0
    not_claimed: int = 0
    #: Ids another attempt holds with a fresh claim (its worker may have died): retry later.
    busy: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    id: int
    mail: _Claimed


def batch_size() -> int:
    """Recipients per batch for the configured backend (MAIL_BATCH_SIZE, capped by the ESP)."""
    support = batch_support(mail_connection.backend_path())
    limit = support.max_recipients if support else settings.MAIL_BATCH_SIZE
    return max(1, min(settings.MAIL_BATCH_SIZE, limit))


def _claim_many(mail_ids: list[int]) -> list[_Row]:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MAIL_CLAIM_TIMEOUT)
    adapt = connection.ops.adapt_datetimefield_value
    params = [_Status.SENDING, adapt(now), list(mail_ids), _Status.QUEUED, _Status.SENDING,
              adapt(stale)]  # fmt: skip
    context_field = OutboundMail._meta.get_field("context")
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_MANY_SQL, params)
        rows = cursor.fetchall()
    return [
        _Row(pk, _Claimed(to, template, context_field.from_db_value(ctx, None, connection),
                          unsub, name, filename, attempts, category))
        for pk, to, template, ctx, unsub, name, filename, attempts, category in rows
    ]  # fmt: skip


def finish_many(ids: list[int], *, status: str, last_error: str = "", skip_reason: str = "") -> int:
    """End our claims of `ids` with one outcome (one UPDATE); QUEUED also restarts the
    sweeper's clock. Only rows still SENDING (ours) change."""
    if not ids:
        return 0
    requeue = status == _Status.QUEUED
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [status, last_error[:2000], skip_reason, requeue, now, list(ids), _Status.SENDING]
    with connection.cursor() as cursor:
        cursor.execute(_FINISH_MANY_SQL, params)
        return cursor.rowcount


def _finish_sent(sent: dict[int, str]) -> None:
    if not sent:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    ids, message_ids = list(sent), [str(v)[:200] for v in sent.values()]
    with connection.cursor() as cursor:
        cursor.execute(_SENT_MANY_SQL, [_Status.SENT, now, ids, message_ids, _Status.SENDING])


def _suppressed(emails: list[str]) -> set[str]:
    """The addresses (of `emails`) on the suppression list, in one query."""
    hashes = {email_hash(email): email for email in emails}
    with connection.cursor() as cursor:
        cursor.execute(_SUPPRESSED_MANY_SQL, [list(hashes)])
        return {hashes[h] for (h,) in cursor.fetchall()}


def _split_unique(rows: list[_Row]) -> list[list[_Row]]:
    """Chunks in which no address repeats (one batch message has each `to` once)."""
    chunks: list[tuple[set[str], list[_Row]]] = []
    for row in rows:
        key = row.mail.to_email.lower()
        for seen, chunk in chunks:
            if key not in seen:
                seen.add(key)
                chunk.append(row)
                break
        else:
            chunks.append(({key}, [row]))
    return [chunk for _, chunk in chunks]


def _recipient_outcomes(
    message: object, rows: list[_Row]
) -> tuple[dict[int, str], dict[str, list[int]]]:
    """(sent: id -> ESP message id, failed: reason -> ids) from `anymail_status.recipients`."""
    status = getattr(message, "anymail_status", None)
    recipients = dict(getattr(status, "recipients", None) or {})
    lowered = {address.lower(): value for address, value in recipients.items()}
    sent: dict[int, str] = {}
    failed: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        outcome = recipients.get(row.mail.to_email) or lowered.get(row.mail.to_email.lower())
        state = getattr(outcome, "status", None) or "unknown"
        if state in ACCEPTED:
            sent[row.id] = "" if outcome.message_id is None else str(outcome.message_id)
        else:
            failed[f"ESP refused the recipient: {state}"].append(row.id)
    return sent, failed


def _send_group(rows: list[_Row], support: BatchSupport, result: BatchResult) -> None:
    """One Anymail batch message for rows sharing template and context; finish them."""
    first = rows[0].mail
    ids = [row.id for row in rows]
    try:
        composed = compose_batch(
            template=first.template, context=first.context, merge_field=support.merge_field
        )
    except Exception as exc:  # a broken template or a deleted campaign: nothing to retry
        result.failed += finish_many(ids, status=_Status.FAILED, last_error=_describe(exc))
        return
    message = build_batch_message(to=[row.mail.to_email for row in rows], composed=composed)
    fields = {
        row.mail.to_email: {
            "unsubscribe_url": row.mail.unsubscribe_url,
            # Until campaigns have a public page, "view in browser" is the site itself.
            "view_url": settings.SITE_URL,
        }
        for row in rows
    }
    # The row id travels with each copy: a reconciliation against the ESP's message search
    # could tell a batch accepted just before its worker died (not built; decision 0008).
    message.merge_metadata = {  # type: ignore[attr-defined]
        row.mail.to_email: {"mail_id": str(row.id)} for row in rows
    }
    message.merge_headers = {  # type: ignore[attr-defined]
        row.mail.to_email: unsubscribe_headers(row.mail.unsubscribe_url) for row in rows
    }
    if support.client_merge:
        message.merge_data = {}  # type: ignore[attr-defined]  # a batch; fields merged by us
        message.merge_fields = fields  # type: ignore[attr-defined]
    else:
        message.merge_data = fields  # type: ignore[attr-defined]

    wait = ratelimit.send_rate_acquire(
        esp=mail_connection.backend_path(), cost=len(rows), rate=settings.MAIL_SEND_RATE
    )
    if wait is None or wait > settings.MAIL_RATE_MAX_WAIT:
        result.requeued += finish_many(ids, status=_Status.QUEUED, last_error="send rate")
        raise TransientSendError("send rate limit: the batch waits for its turn")
    if wait:
        time.sleep(wait)
    try:
        mail_connection.send(message)
    except Exception as exc:
        error = _describe(exc)
        if getattr(message, "anymail_status", None) and getattr(
            message.anymail_status,
            "recipients",
            None,  # type: ignore[attr-defined]
        ):
            pass  # Anymail parsed per-recipient outcomes before raising: use them below
        elif _classify(exc) is TransientSendError and not _accepted_response(exc):
            attempts = max(row.mail.attempts for row in rows)
            if attempts < settings.MAIL_MAX_ATTEMPTS:
                result.requeued += finish_many(ids, status=_Status.QUEUED, last_error=error)
                logger.warning("batch of %s: transient send error, will retry: %s", len(ids), error)
                raise TransientSendError(error) from exc
            result.failed += finish_many(ids, status=_Status.FAILED, last_error=error)
            return
        else:
            result.failed += finish_many(ids, status=_Status.FAILED, last_error=error)
            logger.error("batch of %s failed permanently: %s", len(ids), error)
            return
    sent, failed = _recipient_outcomes(message, rows)
    _finish_sent(sent)
    result.sent += len(sent)
    for reason, failed_ids in failed.items():
        result.failed += finish_many(failed_ids, status=_Status.FAILED, last_error=reason)


def _accepted_response(exc: Exception) -> bool:
    """True when the ESP answered 2xx (it may have accepted some recipients): never resend."""
    if isinstance(exc, AnymailRequestsAPIError):
        return 200 <= (exc.status_code or 0) < 300
    return False


def mail_batch_send(*, mail_ids: list[int]) -> BatchResult:
    """Send the QUEUED rows among `mail_ids` (at most one batch's worth). Idempotent.

    Rows not QUEUED are left alone: sent, failed, skipped, held by a paused campaign, or
    claimed by another attempt (`busy`, when the claim is fresh: the caller retries once it
    can be stale). Raises TransientSendError after putting this batch's unsent rows back to
    QUEUED; the caller retries the batch with backoff. Marketing rows need consent now
    (`mailings.consent`, one query per batch), others an unsuppressed address.
    """
    result = BatchResult()
    rows = _claim_many(mail_ids)
    claimed = {row.id for row in rows}
    unclaimed = [pk for pk in mail_ids if pk not in claimed]
    result.not_claimed = len(unclaimed)
    if unclaimed:
        result.busy = list(
            OutboundMail.objects.filter(pk__in=unclaimed, status=_Status.SENDING).values_list(
                "pk", flat=True
            )
        )
    if not rows:
        return result

    marketing = [row for row in rows if row.mail.category == OutboundMail.Category.MARKETING]
    answers = marketing_consent_check(emails=sorted({row.mail.to_email for row in marketing}))
    refused: dict[str, list[int]] = defaultdict(list)
    for row in marketing:
        reason = answers.get(row.mail.to_email)
        if reason is not None:
            refused[reason].append(row.id)
    for reason, ids in refused.items():
        result.skipped += finish_many(ids, status=_Status.SKIPPED, skip_reason=reason)
    others = [row for row in rows if row.mail.category != OutboundMail.Category.MARKETING]
    blocked = _suppressed([row.mail.to_email for row in others]) if others else set()
    suppressed_ids = [row.id for row in others if row.mail.to_email in blocked]
    result.suppressed += finish_many(
        suppressed_ids, status=_Status.SUPPRESSED, last_error="address is suppressed"
    )
    done = {pk for ids in refused.values() for pk in ids} | set(suppressed_ids)
    pending = [row for row in rows if row.id not in done]

    support = batch_support(mail_connection.backend_path())
    groups: dict[tuple[str, str], list[_Row]] = defaultdict(list)
    singles: list[_Row] = []
    for row in pending:
        if support and row.mail.unsubscribe_url and not row.mail.attachment_name:
            groups[(row.mail.template, repr(sorted(row.mail.context.items())))].append(row)
        else:
            singles.append(row)
    transient: TransientSendError | None = None
    try:
        for group in groups.values():
            for chunk in _split_unique(group):
                _send_group(chunk, support, result)  # type: ignore[arg-type]
    except TransientSendError as exc:
        transient = exc
        unsent = [row.id for row in pending if row not in singles]
        result.requeued += finish_many(unsent, status=_Status.QUEUED, last_error=str(exc))
        singles_left = [row.id for row in singles]
        result.requeued += finish_many(singles_left, status=_Status.QUEUED, last_error=str(exc))
        raise
    for row in singles:
        try:
            outcome = send_claimed(mail_id=row.id, mail=row.mail)
        except TransientSendError as exc:
            transient = exc
            result.requeued += 1
            continue
        if outcome == _Status.SENT:
            result.sent += 1
        else:
            result.failed += 1
    if transient is not None:
        raise transient
    return result


__all__ = ["BatchResult", "PermanentSendError", "batch_size", "finish_many", "mail_batch_send"]
