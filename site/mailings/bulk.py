"""Many mail rows at once: create, publish in batches, hold, release, cancel.

For senders of many identical mails (a campaign's fan-out): one INSERT for a whole set of
rows, one `mailings.mails_send_batch` task per MAIL_BATCH_SIZE rows published after commit,
and the pause / resume / cancel of a set of rows in one UPDATE each. A set is given as ids
or as a subquery of ids (the caller's own table, e.g. a campaign's recipients), so mailings
never learns who the caller is.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from config import jobs
from mailings.batch import batch_size
from mailings.models import OutboundMail

_TABLE = OutboundMail._meta.db_table
_Status = OutboundMail.Status

#: One INSERT for many rows of one template and context; returns (id, address) per row.
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} (to_email, unsubscribe_url, template, context, category,"  # noqa: S608 (model constants)
    " attachment_name, attachment_filename, status, attempts, enqueued_at, claimed_at,"
    " last_error, skip_reason, esp_message_id, delivery_status, created_at, sent_at)"
    " SELECT v.to_email, v.unsubscribe_url, %s, %s::jsonb, %s, '', '', %s, 0, %s, NULL, '',"
    " '', '', '', %s, NULL FROM unnest(%s::text[], %s::text[]) AS v(to_email, unsubscribe_url)"
    " RETURNING id, to_email"
)


def batches_publish(mail_ids: Sequence[int]) -> int:
    """Publish one batch task per `batch_size()` ids (call after the rows are committed).
    Returns how many rows' publishes succeeded; a lost one is the sweeper's."""
    size = batch_size()
    chunks = [list(mail_ids[start : start + size]) for start in range(0, len(mail_ids), size)]
    return sum(len(chunk) for chunk in chunks if jobs.enqueue_mail_send_batch(chunk))


def outbound_mails_create_many(
    *,
    recipients: Sequence[tuple[str, str]],
    template: str,
    context: dict[str, Any],
    category: str = OutboundMail.Category.MARKETING,
) -> dict[str, int]:
    """Create QUEUED rows, one per (address, unsubscribe URL), in one INSERT; publish their
    batch tasks after the caller's commit. Returns address -> mail id.

    Call it inside the transaction of the action that causes the mails (as
    `outbound_mail_create`). Addresses must be distinct within one call.
    """
    if not recipients:
        return {}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    context_json = OutboundMail._meta.get_field("context").get_db_prep_value(context, connection)
    params = [template, context_json, category, _Status.QUEUED, now, now,
              [to for to, _ in recipients], [url for _, url in recipients]]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        created = {to: pk for pk, to in cursor.fetchall()}
    ids = sorted(created.values())
    transaction.on_commit(lambda: batches_publish(ids))
    return created


def _ids(mail_ids: Iterable[int] | QuerySet[Any]) -> Any:
    return mail_ids if isinstance(mail_ids, QuerySet) else list(mail_ids)


def mails_hold(*, mail_ids: Iterable[int] | QuerySet[Any]) -> int:
    """Hold the QUEUED rows among `mail_ids` (a pause): nothing claims or sweeps them.
    Rows already claimed by a worker finish their send."""
    return OutboundMail.objects.filter(pk__in=_ids(mail_ids), status=_Status.QUEUED).update(
        status=_Status.HELD
    )


def mails_release(*, mail_ids: Iterable[int] | QuerySet[Any]) -> int:
    """Put HELD rows back in the queue (a resume) and publish their batches after commit."""
    rows = OutboundMail.objects.filter(pk__in=_ids(mail_ids), status=_Status.HELD)
    ids = sorted(rows.values_list("pk", flat=True))
    OutboundMail.objects.filter(pk__in=ids, status=_Status.HELD).update(
        status=_Status.QUEUED, enqueued_at=timezone.now()
    )
    transaction.on_commit(lambda: batches_publish(ids))
    return len(ids)


def mails_cancel(*, mail_ids: Iterable[int] | QuerySet[Any], reason: str) -> int:
    """Skip the QUEUED and HELD rows among `mail_ids` with `reason`; return how many.
    Rows being sent right now finish; their tasks find nothing else to do."""
    return OutboundMail.objects.filter(
        pk__in=_ids(mail_ids), status__in=[_Status.QUEUED, _Status.HELD]
    ).update(status=_Status.SKIPPED, skip_reason=reason)
