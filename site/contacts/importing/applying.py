"""Applying the import: the decisions of `contacts.importing.deciding`, written in batches.

`import_apply` makes the same decisions again under row locks, 1,000 rows per durable
transaction, with bulk inserts; the consent ledger gets one "import" event per contact
whose subscription state the import creates.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from config import jobs
from contacts.importing.deciding import ImportOptions, _batches, _decide, _shown, _states
from contacts.importing.parsing import ImportRow, ParsedFile, tag_names_clean
from contacts.importing.report import ImportReport, Outcome, RowResult
from contacts.models import ConsentEvent, Contact, Subscription, Tag
from contacts.services import confirm_url
from mailings.models import OutboundMail

#: The form_name of subscriptions created by an import (the funnel leaves them out).
IMPORT_FORM_NAME = "import"


def _tags_for(keys: set[str], names: dict[str, str], known: dict[str, Tag]) -> dict[str, Tag]:
    """Tags for these keys, created when missing (in the caller's transaction)."""
    found = {key: known[key] for key in keys if key in known}
    missing = keys - set(found)
    if missing:
        Tag.objects.bulk_create([Tag(name=names[key]) for key in missing], ignore_conflicts=True)
        rows = Tag.objects.annotate(key=Lower("name")).filter(key__in=list(missing))
        found.update({tag.key: tag for tag in rows})  # type: ignore[attr-defined]
    return found


def _confirmation_mail(subscription: Subscription, to: str, *, now_: Any) -> OutboundMail:
    """The row contacts.services._confirmation_mail_create would insert (same template and
    context; tests/unit/contacts/test_import.py holds the two together)."""
    return OutboundMail(
        to_email=to,
        template="confirm_subscription",
        context={
            "confirm_url": confirm_url(subscription=subscription),
            "expires_days": max(1, settings.CONTACTS_CONFIRM_MAX_AGE // 86400),
        },
        category=OutboundMail.Category.TRANSACTIONAL,
        enqueued_at=now_,
    )


@dataclass
class _Budget:
    """Confirmation mails still to publish right away; the rest wait for the sweeper."""

    now: int
    published: int = 0
    deferred: int = 0


@transaction.atomic(durable=True)
def _apply_batch(
    batch: list[ImportRow],
    options: ImportOptions,
    names: dict[str, str],
    known: dict[str, Tag],
    prefix: str,
    budget: _Budget,
) -> tuple[list[RowResult], dict[str, Tag]]:
    states, suppressed = _states([r.digest for r in batch if r.importable], lock=True)
    now = timezone.now()
    decisions = [
        (row, _decide(row, states.get(row.digest), suppressed.get(row.digest), options))
        for row in batch
    ]
    # A concurrent insert of one of these addresses raises IntegrityError: the caller retries.
    fresh = Contact.objects.bulk_create(
        [Contact.for_address(row.email, created_at=now) for row, d in decisions if d.create_contact]
    )
    contacts = {c.email_hash: c for c in fresh}
    contacts.update({digest: state.contact for digest, state in states.items()})
    # Tags are created only when a row that changes something needs them.
    tags = _tags_for({key for _, d in decisions for key in d.add_tags}, names, known)

    new_subs: list[Subscription] = []
    events: list[ConsentEvent] = []
    links: list[Any] = []
    through = Contact.tags.through
    for row, d in decisions:
        if d.outcome == Outcome.SKIPPED:
            continue
        contact = contacts[row.digest]
        if d.subscribe:
            confirmed = d.subscribe == Subscription.Status.CONFIRMED
            when = row.consented_at if confirmed and row.consented_at else now
            new_subs.append(
                Subscription(
                    contact=contact,
                    status=d.subscribe,
                    requested_at=when,
                    confirmed_at=when if confirmed else None,
                    last_confirmation_sent_at=None if confirmed else now,
                    form_name=IMPORT_FORM_NAME,
                    created_at=now,
                )
            )
        if d.ledger:
            events.append(
                ConsentEvent(
                    contact=contact,
                    event=ConsentEvent.Event.IMPORT,
                    occurred_at=now,
                    form_name=IMPORT_FORM_NAME,
                    detail=f"{prefix}: {d.ledger}"[:200],
                )
            )
        links += [through(contact_id=contact.pk, tag_id=tags[key].pk) for key in d.add_tags]
    # A subscription inserted concurrently by a signup raises here too: the caller retries.
    Subscription.objects.bulk_create(new_subs)
    ConsentEvent.objects.bulk_create(events)
    through.objects.bulk_create(links, ignore_conflicts=True)

    mails: list[OutboundMail] = []
    for sub in new_subs:
        if sub.status != Subscription.Status.PENDING:
            continue
        publish = budget.published + len(mails) < budget.now
        mails.append(_confirmation_mail(sub, sub.contact.email, now_=now if publish else None))
    created = OutboundMail.objects.bulk_create(mails)
    publish_ids = [m.pk for m in created if m.enqueued_at is not None]
    budget.published += len(publish_ids)
    budget.deferred += len(created) - len(publish_ids)
    if publish_ids:
        transaction.on_commit(lambda: _publish(publish_ids))
    results = [RowResult(row.line, _shown(row), d.outcome, d.reason) for row, d in decisions]
    return results, tags


def _publish(mail_ids: list[int]) -> None:
    for mail_id in mail_ids:
        jobs.enqueue_mail_send(mail_id)


def import_apply(
    *,
    parsed: ParsedFile,
    options: ImportOptions,
    actor_name: str,
    file_name: str = "",
    resume: ImportReport | None = None,
    seconds: float | None = None,
) -> ImportReport:
    """Apply the import: one durable transaction per BATCH_SIZE rows (the caller must not
    hold a transaction open). The decisions are made again on locked rows, so the result can
    differ from an earlier preview only where the data changed in between.

    With `seconds`, it stops after the first batch that ends past that many seconds and
    returns a report whose `next_row` says where to go on: call again with `resume=` that
    report (a web request stays short; 50,000 rows take a few steps). Stopping anywhere is
    safe: every batch is atomic and the import idempotent, so a step that died mid-way is
    simply done again by the next one.

    The first CONTACTS_IMPORT_SEND_NOW confirmation mails are published after their batch
    commits; the others are left QUEUED for the mail sweeper (mailings.mails_requeue_stuck,
    about 1,000 a minute), which spreads a large double opt-in over time.
    """
    report = resume or ImportReport(results=[], applied=False, import_id=uuid.uuid4().hex[:10])
    prefix = f"import {report.import_id} by {actor_name}"
    prefix += f" ({file_name[:60]})" if file_name else ""
    names: dict[str, str] = tag_names_clean(options.tags)
    for row in parsed.rows:
        if row.importable:
            for key, name in row.tags.items():
                names.setdefault(key, name)
    known: dict[str, Tag] = {}  # tags committed by earlier batches
    send_now = getattr(settings, "CONTACTS_IMPORT_SEND_NOW", 500)
    budget = _Budget(now=max(0, send_now - report.mails_now))
    deadline = None if seconds is None else time.monotonic() + seconds
    first = report.next_row or 0
    rows = parsed.rows[first:]
    done = first
    for batch in _batches(rows):
        for attempt in range(3):
            try:
                batch_results, tags = _apply_batch(batch, options, names, known, prefix, budget)
                break
            except IntegrityError:  # a signup inserted one of these addresses meanwhile
                if attempt == 2:
                    raise
        report.results += batch_results
        known.update(tags)
        done += len(batch)
        if deadline is not None and time.monotonic() > deadline and done < len(parsed.rows):
            break
    report.mails_now += budget.published
    report.mails_later += budget.deferred
    report.next_row = done if done < len(parsed.rows) else None
    report.applied = report.next_row is None
    return report
