"""CSV import of contacts: parse, plan (the dry run), apply in batches. Consent first.

- `import_parse` reads the file: a BOM, ',' ';' or TAB separators, CRLF/LF/CR line ends,
  quoted fields; rows with bytes that are not valid in the chosen encoding are reported and
  skipped. Addresses go through core.emailaddr.normalize_email; duplicates (same address,
  case-insensitively) are merged into their first row.
- `import_preview` decides every row against the database without writing anything.
- `import_apply` makes the same decisions again under row locks, 1,000 rows per durable
  transaction, with bulk inserts; the consent ledger gets one "import" event per contact
  whose subscription state the import creates.

The rules (`_decide`): an import never changes an existing subscription's status, so it
never re-subscribes an unsubscribed, bounced, complained or suppressed address, and it
stores nothing for an address on mailings' suppression list. A row with a consent date
("consented_at" or "confirmed_at") becomes a confirmed subscriber, with that evidence in the
ledger; a row without one enters the double opt-in (a confirmation mail) or is stored as a
contact without a subscription (never mailed), as the marketer chose. Importing the same file
twice changes nothing the second time.
"""

import codecs
import csv
import datetime as dt
import io
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from config import jobs
from contacts.exporting import FORMULA_PREFIXES
from contacts.models import ConsentEvent, Contact, Subscription, Tag
from contacts.services import confirm_url
from core.emailaddr import normalize_email
from core.exceptions import AppError
from mailings.models import OutboundMail, Suppression, email_hash

#: Largest file accepted (bytes) and most data rows.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
#: Rows per transaction when applying.
BATCH_SIZE = 1000
#: The form_name of subscriptions created by an import (the funnel leaves them out).
IMPORT_FORM_NAME = "import"
#: Tag names: no separators of a CSV tags cell.
TAG_MAX_LENGTH = 50
_TAG_SPLIT = re.compile(r"[,|]")
#: Characters that `surrogateescape` makes of undecodable bytes.
_UNDECODABLE = re.compile("[\udc80-\udcff]")

ENCODINGS = {
    "utf-8": "UTF-8 (also with a BOM)",
    "cp1252": "Windows-1252 (older Excel on Windows)",
    "latin-1": "ISO-8859-1 (Latin-1)",
}

#: Accepted header names (lower-cased, spaces and dashes as underscores) per column role.
HEADER_ALIASES = {
    "email": ("email", "e_mail", "email_address", "emailaddress", "mail", "address"),
    "consented_at": (
        "consented_at",
        "consent_date",
        "consent_at",
        "consented_on",
        "opt_in_date",
        "optin_date",
        "opted_in_at",
        "confirmed_at",
        "subscribed_at",
    ),
    "consent_note": ("consent_note", "consent_source", "consent_detail", "consent_proof"),
    "tags": ("tags", "tag", "labels"),
    "status": ("status", "subscription_status", "state"),
}
#: Values of a status column that mean "this person must not be subscribed".
REFUSED_STATUSES = frozenset(
    {
        "unsubscribed",
        "bounced",
        "complained",
        "suppressed",
        "blocklisted",
        "blacklisted",
        "blocked",
        "cleaned",
        "spam",
        "erased",
    }
)


class ImportFileError(AppError):
    """The file as a whole can't be read; the message is written for the marketer."""


class Mode(StrEnum):
    """What happens to a row without a recorded consent."""

    DOUBLE_OPT_IN = "double_opt_in"
    NON_MAILABLE = "non_mailable"


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ImportOptions:
    mode: Mode = Mode.DOUBLE_OPT_IN
    #: Tags added to every imported row (besides a "tags" column).
    tags: tuple[str, ...] = ()
    encoding: str = "utf-8"


@dataclass(slots=True)
class ImportRow:
    line: int
    raw_email: str
    email: str = ""
    digest: str = ""
    consented_at: dt.datetime | None = None
    consent_note: str = ""
    #: Lower-cased name -> name as written.
    tags: dict[str, str] = field(default_factory=dict)
    error: str = ""
    duplicate_of: int = 0

    @property
    def importable(self) -> bool:
        return not self.error and not self.duplicate_of


@dataclass
class ParsedFile:
    rows: list[ImportRow]
    delimiter: str
    #: role -> the header it was read from.
    columns: dict[str, str]
    ignored_columns: list[str]
    undecodable_rows: int
    encoding: str


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    email: str
    outcome: str
    reason: str


@dataclass
class ImportReport:
    results: list[RowResult]
    applied: bool
    #: Confirmation mails published now / left for the mail sweeper (about 1,000 a minute).
    mails_now: int = 0
    mails_later: int = 0
    import_id: str = ""
    #: Where an apply in steps goes on (None: finished, or not started for a preview).
    next_row: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.results)
        return {outcome.value: found.get(outcome.value, 0) for outcome in Outcome}

    @property
    def reasons(self) -> list[tuple[str, str, int]]:
        """(outcome, reason, rows), most frequent first."""
        found = Counter((r.outcome, r.reason) for r in self.results)
        return [(o, reason, n) for (o, reason), n in found.most_common()]

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [[r.line, r.email, r.outcome, r.reason] for r in self.results],
            "applied": self.applied,
            "mails_now": self.mails_now,
            "mails_later": self.mails_later,
            "import_id": self.import_id,
            "next_row": self.next_row,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ImportReport":
        return cls(
            results=[RowResult(*row) for row in data["results"]],
            applied=data["applied"],
            mails_now=data.get("mails_now", 0),
            mails_later=data.get("mails_later", 0),
            import_id=data.get("import_id", ""),
            next_row=data.get("next_row"),
        )


# -- Parsing -----------------------------------------------------------------------------------


def tag_names_clean(raw: Iterable[str]) -> dict[str, str]:
    """{lower-cased name: name} of valid tag names; ValueError naming the first bad one."""
    names: dict[str, str] = {}
    for part in raw:
        for name in _TAG_SPLIT.split(part):
            name = " ".join(name.split())
            if not name:
                continue
            if len(name) > TAG_MAX_LENGTH:
                raise ValueError(
                    f"the tag “{name[:20]}…” is longer than {TAG_MAX_LENGTH} characters"
                )
            names.setdefault(name.lower(), name)
    return names


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").lower())


def _roles(header: Sequence[str]) -> dict[str, int]:
    keys = [_header_key(h) for h in header]
    roles: dict[str, int] = {}
    for role, aliases in HEADER_ALIASES.items():
        for alias in aliases:  # the first alias present wins (consented_at before confirmed_at)
            if alias in keys:
                roles[role] = keys.index(alias)
                break
    return roles


def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="surrogateescape"), "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"  # Excel's "Unicode text"
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "This is an Excel workbook, not a CSV file. In Excel, choose File › Save As › "
            "“CSV UTF-8 (comma delimited)” and import that file."
        )
    if b"\x00" in data[:4096]:
        raise ImportFileError("This doesn't look like a text file. Please import a CSV file.")
    if encoding not in ENCODINGS:
        raise ImportFileError(f"Unknown encoding {encoding!r}.")
    return data.decode(encoding, errors="surrogateescape"), encoding


def _sniff_delimiter(text: str) -> tuple[str, list[str]]:
    """The separator that makes the first line a header with an email column."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    best: tuple[int, str, list[str]] | None = None
    for delimiter in (",", ";", "\t"):
        header = next(csv.reader([first], delimiter=delimiter), [])
        if "email" in _roles(header) and (best is None or len(header) > best[0]):
            best = (len(header), delimiter, header)
    if best is None:
        raise ImportFileError(
            "No email column found. The first line must name the columns, one of them "
            "“email” (separated by commas, semicolons or tabs)."
        )
    return best[1], best[2]


def _cell(value: str) -> str:
    value = value.strip()
    # Our own exports guard formula-like cells with an apostrophe: take it off again.
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        value = value[1:].strip()
    return value


def _when(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time (naive ones are UTC); ValueError otherwise."""
    value = value.strip().replace("/", "-")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(value)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _read_row(line: int, cells: list[str], roles: dict[str, int], encoding: str) -> ImportRow:
    def get(role: str) -> str:
        index = roles.get(role)
        return _cell(cells[index]) if index is not None and index < len(cells) else ""

    row = ImportRow(line=line, raw_email=get("email")[:254])
    if any(_UNDECODABLE.search(cell) for cell in cells):
        row.raw_email = _UNDECODABLE.sub("\ufffd", row.raw_email)
        row.error = (
            f"the line has bytes that are not valid {encoding.upper()}: save the file as "
            "“CSV UTF-8” or choose its encoding"
        )
        return row
    try:
        row.email = normalize_email(row.raw_email)
    except ValidationError as exc:
        row.error = f"invalid address: {exc.messages[0]}"
        return row
    row.digest = email_hash(row.email)
    status = get("status").lower()
    if status in REFUSED_STATUSES:
        row.error = f"marked “{status}” in the file: not imported"
        return row
    consent = get("consented_at")
    if consent:
        try:
            row.consented_at = _when(consent)
        except ValueError:
            row.error = f"the consent date “{consent[:30]}” isn't a date like 2026-03-01"
            return row
        if row.consented_at > timezone.now() + dt.timedelta(days=1):
            row.error = "the consent date is in the future"
            return row
        row.consent_note = " ".join(get("consent_note").split())[:80]
    try:
        row.tags = tag_names_clean([get("tags")])
    except ValueError as exc:
        row.error = str(exc)
    return row


def import_parse(*, data: bytes, encoding: str = "utf-8") -> ParsedFile:
    """Read a contacts CSV into rows. Raises ImportFileError when the file can't be used.

    Per-row problems (invalid address, bad consent date, undecodable bytes) are kept on the
    row (`error`) for the report; later rows with the address of an earlier one are marked
    `duplicate_of` and their tags and consent merged into it.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_FILE_BYTES // 1_048_576} MB.")
    if not data.strip():
        raise ImportFileError("The file is empty.")
    text, used = _decode(data, encoding)
    delimiter, header = _sniff_delimiter(text)
    roles = _roles(header)
    used_indexes = set(roles.values())
    ignored = [h for i, h in enumerate(header) if i not in used_indexes and h.strip()]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[ImportRow] = []
    first: dict[str, ImportRow] = {}
    undecodable = 0
    try:
        next(reader)  # the header
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows: please split it.")
            row = _read_row(reader.line_num, cells, roles, used)
            undecodable += row.error.startswith("the line has bytes")
            rows.append(row)
            if row.error:
                continue
            earlier = first.get(row.digest)
            if earlier is None:
                first[row.digest] = row
                continue
            row.duplicate_of = earlier.line
            for key, name in row.tags.items():
                earlier.tags.setdefault(key, name)
            if earlier.consented_at is None and row.consented_at is not None:
                earlier.consented_at, earlier.consent_note = row.consented_at, row.consent_note
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num}: the CSV is malformed ({exc}).") from exc
    if not rows:
        raise ImportFileError("The file has a header line but no rows.")
    return ParsedFile(
        rows=rows,
        delimiter=delimiter,
        columns={role: header[index] for role, index in roles.items()},
        ignored_columns=ignored,
        undecodable_rows=undecodable,
        encoding=used,
    )


# -- Deciding ----------------------------------------------------------------------------------


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


# -- Applying ----------------------------------------------------------------------------------


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


def report_csv_rows(report: ImportReport) -> Iterator[list[Any]]:
    for r in report.results:
        yield [r.line, r.email, r.outcome, r.reason]
