"""Accept a public form with one INSERT; act on it in a worker (docs/decisions/0007).

The view validates the form and calls its app's `*_accept` service, which stores a
FormSubmission through `submission_accept` and, after commit, makes sure a
`core.submissions_drain` task is queued (one publish covers a burst of forms). The worker
locks each row (SKIP LOCKED: a duplicate task finds nothing to do), runs the handler its app
registered for the kind, and deletes the row, all in one transaction: acted on exactly once,
or not at all and retried. A lost publish (broker down), a dead worker or a failed attempt
leaves the row, and `submissions_requeue_stuck` (beat) publishes `core.submission_process`
for it again.

core knows no app: contacts and ebooks register their handlers in AppConfig.ready().
"""

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config import jobs
from core.models import FormSubmission

logger = logging.getLogger(__name__)

#: Set while a drain task is queued and not yet started (see _wake_worker).
DRAIN_FLAG_KEY = "intake:drain-queued"

_INSERT_SQL = (
    f"INSERT INTO {FormSubmission._meta.db_table}"  # noqa: S608 (model constant)
    " (kind, email, payload, received_at, enqueued_at, attempts, last_error)"
    " VALUES (%s, %s, %s, %s, %s, 0, '') RETURNING id"
)

Handler = Callable[[FormSubmission], object]
_HANDLERS: dict[str, Handler] = {}


class UnknownSubmissionKindError(LookupError):
    """No handler is registered for a stored submission's kind (a deploy removed it?)."""


def handler_register(kind: str, handler: Handler) -> None:
    """Make `handler(submission)` act on submissions of `kind`, inside their transaction."""
    _HANDLERS[kind] = handler


def submission_accept(*, kind: str, email: str, payload: dict[str, Any]) -> int:
    """Store an accepted form and publish its processing after commit; return the row id.

    One INSERT (its own transaction in autocommit, or part of the caller's). `payload` must
    be JSON-serializable; it is handed back to the handler as `submission.payload`.
    """
    if kind not in _HANDLERS:
        raise UnknownSubmissionKindError(kind)
    # Hand-written: this INSERT is most of a form POST's work; the ORM's model instance,
    # defaults and SQL compilation cost about as much again (profiled under gunicorn).
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL, [kind, email, json.dumps(payload, cls=DjangoJSONEncoder), now, now]
        )
        (submission_id,) = cursor.fetchone()
    transaction.on_commit(_wake_worker)
    return submission_id


def _wake_worker() -> None:
    """After commit: make sure a drain task is queued that will see the new row.

    One Redis round trip (`cache.add`) instead of a Celery publish per form: while a drain is
    queued and has not started, new rows need no publish of their own, because the drain
    drops the flag *before* it looks for rows (so a row committed before the flag was seen
    set is visible to it, and a row committed later finds the flag gone and publishes).
    With the cache down, publish anyway; a failed publish leaves the row to the sweeper.
    """
    try:
        first = cache.add(DRAIN_FLAG_KEY, 1, timeout=settings.SUBMISSION_WAKE_TTL)
    except Exception:
        first = True
    if first and not jobs.enqueue_submissions_drain():
        with contextlib.suppress(Exception):  # let the next form try to publish again
            cache.delete(DRAIN_FLAG_KEY)


def submissions_drain(*, limit: int = 1000) -> int:
    """Act on every waiting form that never failed, oldest first; return how many were done.

    Run by the `core.submissions_drain` task that `_wake_worker` publishes. Failed rows
    (attempts > 0) are left to the sweeper, which retries them with its own pacing. More
    than `limit` rows waiting: publish another drain for the rest.
    """
    with contextlib.suppress(Exception):  # before looking: see _wake_worker
        cache.delete(DRAIN_FLAG_KEY)
    done = 0
    while done < limit:
        ids = list(
            FormSubmission.objects.filter(attempts=0)
            .order_by("pk")
            .values_list("pk", flat=True)[: min(100, limit - done)]
        )
        if not ids:
            return done
        before = done
        for pk in ids:
            with contextlib.suppress(Exception):  # counted on the row and logged; next one
                done += submission_process(submission_id=pk) == "done"
        if len(ids) < 100 or done == before:  # the rest is being done by another drain
            return done
    jobs.enqueue_submissions_drain()
    return done


def submission_process(*, submission_id: int) -> str:
    """Act on one stored submission and delete it, in one transaction.

    Returns "done", or "missing" when the row is gone (already done, erased) or locked by
    another worker right now (a duplicate task). A handler's exception rolls everything
    back, counts the attempt and propagates (the task retries; the sweeper after that).
    """
    try:
        with transaction.atomic(durable=True):
            submission = (
                FormSubmission.objects.select_for_update(skip_locked=True)
                .filter(pk=submission_id)
                .first()
            )
            if submission is None:
                return "missing"
            handler = _HANDLERS.get(submission.kind)
            if handler is None:
                raise UnknownSubmissionKindError(submission.kind)
            handler(submission)
            submission.delete()
    except Exception as exc:
        FormSubmission.objects.filter(pk=submission_id).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}"[:200]
        )
        logger.warning("form submission %s failed (%s)", submission_id, type(exc).__name__)
        raise
    return "done"


def submissions_requeue_stuck(*, limit: int = 1000) -> int:
    """Sweeper: publish again submissions still waiting SUBMISSION_REQUEUE_AFTER seconds after
    their last publish, unless they failed SUBMISSION_MAX_ATTEMPTS times (then they wait for
    an operator, in the admin). Publishing twice is harmless. Returns the number published."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.SUBMISSION_REQUEUE_AFTER)
    ids = list(
        FormSubmission.objects.filter(
            enqueued_at__lt=stale, attempts__lt=settings.SUBMISSION_MAX_ATTEMPTS
        )
        .order_by("enqueued_at")
        .values_list("pk", flat=True)[:limit]
    )
    published = [pk for pk in ids if jobs.enqueue_submission_process(pk)]
    if published:
        FormSubmission.objects.filter(pk__in=published).update(enqueued_at=now)
        logger.info("sweeper re-enqueued %s of %s waiting forms", len(published), len(ids))
    return len(published)


def submissions_retry(*, ids: list[int]) -> int:
    """Admin action: give failed submissions a fresh set of attempts and publish them now."""
    with transaction.atomic():
        found = list(FormSubmission.objects.filter(pk__in=ids).values_list("pk", flat=True))
        FormSubmission.objects.filter(pk__in=found).update(
            attempts=0, last_error="", enqueued_at=timezone.now()
        )
        for pk in found:
            transaction.on_commit(lambda pk=pk: jobs.enqueue_submission_process(pk))
    return len(found)
