"""Reading the uploaded CSV: the file as a whole, then each row, validated for the report.

`import_parse` reads the file: a BOM, ',' ';' or TAB separators, CRLF/LF/CR line ends,
quoted fields; rows with bytes that are not valid in the chosen encoding are reported and
skipped. Addresses go through core.emailaddr.normalize_email; duplicates (same address,
case-insensitively) are merged into their first row.
"""

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from contacts.exporting import FORMULA_PREFIXES
from core.emailaddr import normalize_email
from core.exceptions import AppError
from mailings.models import email_hash

#: Largest file accepted (bytes) and most data rows.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
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
