"""Counting a page view: map the path to a page of the content index, then one upsert."""

import datetime as dt
import logging

from django.db import connection
from django.utils import timezone

from analytics.models import PageViewDaily
from guides.content import get_library

logger = logging.getLogger(__name__)

#: Longest path worth looking at (a guide slug and a chapter slug).
MAX_PATH = 300


def page_for_path(path: str) -> tuple[str, int] | None:
    """(guide slug, chapter number) for "/", "/<guide>/" or "/<guide>/<chapter>/"; else None.

    Only pages that exist in the content index count, so junk posted to the beacon can't
    create rows (the key space stays: days x pages).
    """
    if not isinstance(path, str) or len(path) > MAX_PATH or not path.startswith("/"):
        return None
    parts = [part for part in path.split("/") if part]
    if not parts:
        return "", 0
    library = get_library()
    guide = library.guide(parts[0])
    if guide is None or len(parts) > 2:
        return None
    if len(parts) == 1:
        return guide.slug, 0
    chapter = guide.chapter(parts[1])
    return (guide.slug, chapter.number) if chapter else None


def pageview_record(*, path: str, day: dt.date | None = None) -> bool:
    """Count one view of `path` on `day` (today, UTC). Returns False for a path we don't count.

    One statement, atomic under concurrency on PostgreSQL and SQLite:
    INSERT ... ON CONFLICT (date, guide, chapter) DO UPDATE SET count = count + 1.
    """
    page = page_for_path(path)
    if page is None:
        return False
    table = connection.ops.quote_name(PageViewDaily._meta.db_table)
    sql = (
        f"INSERT INTO {table} (date, guide_slug, chapter_number, count) "  # noqa: S608 - names from _meta
        "VALUES (%s, %s, %s, 1) "
        "ON CONFLICT (date, guide_slug, chapter_number) "
        f"DO UPDATE SET count = {table}.count + 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [day or timezone.now().date(), page[0], page[1]])
    return True
