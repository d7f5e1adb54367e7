"""Contacts as CSV: streamed, RFC 4180, safe to open in a spreadsheet.

`csv_safe` neutralises formula injection (OWASP "CSV Injection"): a cell that a spreadsheet
would read as a formula or a command (first character = + - @ TAB CR) gets a leading
apostrophe. contacts.importing strips that apostrophe again, so an export re-imports as-is.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet

from contacts.models import Contact, Subscription, Tag

#: First characters that make Excel, LibreOffice or Google Sheets evaluate a cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "email",
    "status",
    "created_at",
    "requested_at",
    "confirmed_at",
    "unsubscribed_at",
    "guide",
    "chapter",
    "form",
    "page_path",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "tags",
)

#: Rows fetched per database round trip while streaming (tags come per chunk too).
CHUNK_SIZE = 2000


def csv_safe(value: Any) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    """A file-like object whose write() returns what it was given (csv.writer -> stream)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """RFC 4180 lines (CRLF, quotes doubled, fields quoted when needed), every cell safe."""
    writer = csv.writer(_Echo(), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    yield writer.writerow([csv_safe(cell) for cell in header])
    for row in rows:
        yield writer.writerow([csv_safe(cell) for cell in row])


def contacts_export_queryset(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    """The rows to export: the subscription joined, tags prefetched per chunk."""
    return (
        queryset.prefetch_related(None)  # drop the admin's own prefetches
        .select_related("subscription")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("name")))
    )


def _row(contact: Contact) -> list[Any]:
    sub: Subscription | None = getattr(contact, "subscription", None)
    tags = "|".join(sorted(tag.name for tag in contact.tags.all()))
    if sub is None:
        return [contact.email, "not_subscribed", contact.created_at, *[""] * 13, tags]
    return [
        contact.email,
        sub.status,
        contact.created_at,
        sub.requested_at,
        sub.confirmed_at,
        sub.unsubscribed_at,
        sub.guide_slug,
        sub.chapter_number,
        sub.form_name,
        sub.page_path,
        sub.referrer,
        sub.utm_source,
        sub.utm_medium,
        sub.utm_campaign,
        sub.utm_term,
        sub.utm_content,
        tags,
    ]


def contacts_csv_lines(queryset: QuerySet[Contact]) -> Iterator[str]:
    """The CSV of `queryset`, line by line, reading CHUNK_SIZE rows at a time."""
    rows = contacts_export_queryset(queryset).iterator(chunk_size=CHUNK_SIZE)
    return csv_lines(COLUMNS, (_row(contact) for contact in rows))
