"""Deciding each row against the database, and the dry run (`import_preview`).

`import_preview` decides every row against the database without writing anything;
`contacts.importing.applying` makes the same decisions again under row locks.

The rules (`_decide`): an import never changes an existing subscription's status, so it
never re-subscribes an unsubscribed, bounced, complained or suppressed address, and it
stores nothing for an address on mailings' suppression list. A row with a consent date
("consented_at" or "confirmed_at") becomes a confirmed subscriber, with that evidence in the
ledger; a row without one enters the double opt-in (a confirmation mail) or is stored as a
contact without a subscription (never mailed), as the marketer chose. Importing the same file
twice changes nothing the second time.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from django.db.models.functions import Lower

from contacts.importing.parsing import ImportRow, ParsedFile
from contacts.importing.report import ImportReport, Outcome, RowResult
from contacts.models import Contact, Subscription
from mailings.models import Suppression

#: Rows per transaction when applying (and per lookup in the dry run). `_batches` reads it
#: here, so a test that changes it patches this module, not the package.
BATCH_SIZE = 1000


class Mode(StrEnum):
    """What happens to a row without a recorded consent."""

    DOUBLE_OPT_IN = "double_opt_in"
    NON_MAILABLE = "non_mailable"


@dataclass(frozen=True)
class ImportOptions:
    mode: Mode = Mode.DOUBLE_OPT_IN
    #: Tags added to every imported row (besides a "tags" column).
    tags: tuple[str, ...] = ()
    encoding: str = "utf-8"


@dataclass(frozen=True, slots=True)
class _State:
    contact: Contact
    subscription: Subscription | None
    tag_keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Decision:
    outcome: Outcome
    reason: str
    create_contact: bool = False
    #: Subscription status to create (pending/confirmed), or "" for none.
    subscribe: str = ""
    #: Detail of the "import" consent event, or "" for none.
    ledger: str = ""
    add_tags: frozenset[str] = frozenset()


_STATUS_WORDS = {
    Subscription.Status.UNSUBSCRIBED: "unsubscribed",
    Subscription.Status.BOUNCED: "bounced",
    Subscription.Status.COMPLAINED: "complained (spam report)",
    Subscription.Status.SUPPRESSED: "suppressed by an admin",
}


def _decide(
    row: ImportRow, state: _State | None, suppressed: str | None, options: ImportOptions
) -> _Decision:
    if row.error:
        return _Decision(Outcome.SKIPPED, row.error)
    if row.duplicate_of:
        return _Decision(Outcome.SKIPPED, f"duplicate of line {row.duplicate_of} (merged into it)")
    if suppressed is not None:
        label = Suppression.Reason(suppressed).label if suppressed in Suppression.Reason else ""
        return _Decision(
            Outcome.SKIPPED, f"on the suppression list ({label.lower()}): never imported"
        )
    wanted = frozenset(row.tags) | frozenset(t.lower() for t in options.tags)
    consent = row.consented_at
    if consent is not None:
        note = f" ({row.consent_note})" if row.consent_note else ""
        ledger = f"consent recorded {consent:%Y-%m-%d}{note}"
    elif options.mode == Mode.DOUBLE_OPT_IN:
        ledger = "no recorded consent: confirmation requested (double opt-in)"
    else:
        ledger = "no recorded consent: not mailable"

    if state is None:
        if consent is not None:
            return _Decision(
                Outcome.CREATED,
                "new subscriber (consent recorded)",
                True,
                Subscription.Status.CONFIRMED,
                ledger,
                wanted,
            )
        if options.mode == Mode.DOUBLE_OPT_IN:
            return _Decision(
                Outcome.CREATED,
                "new contact: confirmation mail (double opt-in)",
                True,
                Subscription.Status.PENDING,
                ledger,
                wanted,
            )
        return _Decision(
            Outcome.CREATED,
            "new contact, not mailable (no recorded consent)",
            True,
            "",
            ledger,
            wanted,
        )

    sub = state.subscription
    if sub is not None and (sub.is_blocked or sub.status == Subscription.Status.UNSUBSCRIBED):
        word = _STATUS_WORDS[Subscription.Status(sub.status)]
        return _Decision(Outcome.SKIPPED, f"{word}: an import never re-subscribes anyone")
    new_tags = wanted - state.tag_keys
    if sub is None:
        if consent is not None:
            return _Decision(
                Outcome.UPDATED,
                "subscribed (consent recorded)",
                False,
                Subscription.Status.CONFIRMED,
                ledger,
                new_tags,
            )
        if options.mode == Mode.DOUBLE_OPT_IN:
            return _Decision(
                Outcome.UPDATED,
                "confirmation mail (double opt-in)",
                False,
                Subscription.Status.PENDING,
                ledger,
                new_tags,
            )
        if new_tags:
            return _Decision(Outcome.UPDATED, "tags added (not mailable)", add_tags=new_tags)
        return _Decision(Outcome.SKIPPED, "already a contact (not mailable): nothing to change")
    if sub.status == Subscription.Status.PENDING:
        if new_tags:
            return _Decision(
                Outcome.UPDATED, "tags added (awaiting confirmation)", add_tags=new_tags
            )
        return _Decision(Outcome.SKIPPED, "already awaiting confirmation: nothing to change")
    if new_tags:
        return _Decision(Outcome.UPDATED, "tags added (subscriber)", add_tags=new_tags)
    return _Decision(Outcome.SKIPPED, "already subscribed: nothing to change")


def _states(digests: list[str], *, lock: bool) -> tuple[dict[str, _State], dict[str, str]]:
    """Existing contacts (with subscription and tag keys) and suppressions of these hashes."""
    suppressed = dict(
        Suppression.objects.filter(email_hash__in=digests).values_list("email_hash", "reason")
    )
    contacts = list(Contact.objects.filter(email_hash__in=digests))
    ids = [c.pk for c in contacts]
    subs = Subscription.objects.filter(contact_id__in=ids)
    if lock:
        subs = subs.select_for_update()
    by_contact = {s.contact_id: s for s in subs}
    tag_keys: dict[int, set[str]] = {}
    through = Contact.tags.through.objects.filter(contact_id__in=ids)
    for contact_id, key in through.values_list("contact_id", Lower("tag__name")):
        tag_keys.setdefault(contact_id, set()).add(key)
    states = {
        c.email_hash: _State(c, by_contact.get(c.pk), frozenset(tag_keys.get(c.pk, ())))
        for c in contacts
    }
    return states, suppressed


def _batches(rows: list[ImportRow]) -> Iterator[list[ImportRow]]:
    for start in range(0, len(rows), BATCH_SIZE):
        yield rows[start : start + BATCH_SIZE]


def _shown(row: ImportRow) -> str:
    return row.email or row.raw_email


def import_preview(*, parsed: ParsedFile, options: ImportOptions) -> ImportReport:
    """The dry run: what `import_apply` would do to each row now. Writes nothing."""
    results: list[RowResult] = []
    for batch in _batches(parsed.rows):
        states, suppressed = _states([r.digest for r in batch if r.importable], lock=False)
        for row in batch:
            decision = _decide(row, states.get(row.digest), suppressed.get(row.digest), options)
            results.append(RowResult(row.line, _shown(row), decision.outcome, decision.reason))
    return ImportReport(results=results, applied=False)
