"""Reads for the admin dashboard and the per-chapter funnel: a few GROUP BY queries each.

Every series is one aggregate query over the period (TruncDate + Count/Sum), never a query
per day or per row. eBook figures come from ebooks.models when that app provides them
(looked up lazily, so analytics works before and without it).
"""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, F, Model, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import PageViewDaily
from contacts.importing import IMPORT_FORM_NAME
from contacts.models import Subscription
from guides.content import get_library
from mailings.models import DeliveryEvent, OutboundMail, Suppression

#: The periods offered (days, today included).
PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 30
#: Complaint-rate lines mailbox providers enforce (Gmail/Yahoo bulk-sender rules), in %.
COMPLAINT_WARN = 0.1
COMPLAINT_LIMIT = 0.3
#: Days in the trailing window of the complaint rate (one day's rate is too noisy).
RATE_WINDOW = 7

#: Forms on the home page: attributed to the home page whatever guide they carry.
HOME_FORMS = frozenset({"home", "home-pdf"})
FORM_LABELS = {
    "inline": "Newsletter box (chapter)",
    "pdf": "PDF form (chapter)",
    "guide": "Newsletter box (guide page)",
    "guide-pdf": "PDF form (guide page)",
    "home": "Newsletter box (home page)",
    "home-pdf": "PDF form (home page)",
    "page": "Signup page",
    "": "Unknown form",
}


def period_days(raw: object) -> int:
    """A period from a query parameter: one of PERIODS, else the default."""
    try:
        days = int(str(raw))
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _start(days: int, today: dt.date) -> tuple[dt.date, dt.datetime]:
    first = today - dt.timedelta(days=days - 1)
    return first, dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)


# -- eBooks, when the app has them -------------------------------------------------------------

_TABLES: dict[str, bool] = {}


def ebook_model(name: str) -> type[Model] | None:
    """ebooks.<name> if the app defines it and its table exists (checked once per process)."""
    try:
        model = apps.get_model("ebooks", name)
    except LookupError:
        return None
    table = model._meta.db_table
    if table not in _TABLES:
        with connection.cursor() as cursor:
            _TABLES[table] = table in connection.introspection.table_names(cursor)
    return model if _TABLES[table] else None


def _has_fields(model: type[Model], *names: str) -> bool:
    fields = {f.name for f in model._meta.get_fields()}
    return all(name in fields for name in names)


# -- Dashboard ---------------------------------------------------------------------------------


def _per_day(
    queryset: QuerySet[Any], field_name: str, since: dt.datetime, **extra: Any
) -> dict[dt.date, dict[str, int]]:
    """{day: {"n": rows, **extra counts}} of rows whose `field_name` is at or after `since`."""
    rows = (
        queryset.filter(**{f"{field_name}__gte": since})
        .annotate(day=TruncDate(field_name))
        .values("day")
        .annotate(n=Count("pk"), **extra)
        .order_by()
    )
    return {row.pop("day"): row for row in rows}


def _series(days: list[dt.date], found: dict[dt.date, dict[str, int]], key: str = "n") -> list[int]:
    return [found.get(day, {}).get(key, 0) or 0 for day in days]


@dataclass
class Dashboard:
    days: int
    dates: list[dt.date]
    confirmed_now: int
    #: Confirmed subscribers at the end of each day (rebuilt backwards from today's count).
    confirmed: list[int]
    signups: list[int]
    confirmations: list[int]
    unsubscribes: list[int]
    bounces: list[int]
    complaints: list[int]
    sent: list[int]
    #: Trailing RATE_WINDOW-day complaint rate in %, None while nothing was sent.
    complaint_rate: list[float | None]
    page_views: list[int]
    ebook_requests: list[int] | None = None
    ebook_downloads: list[int] | None = None
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.confirmed_now or any(self.signups) or any(self.page_views))


def _confirmed_now() -> int:
    """contacts.selectors.subscriber_count_confirmed, in two index-friendly counts: all
    confirmed subscriptions, minus the few whose address is on the suppression list."""
    confirmed = Subscription.objects.filter(status=Subscription.Status.CONFIRMED)
    suppressed = confirmed.filter(
        contact__email_hash__in=Suppression.objects.values("email_hash")
    ).count()
    return confirmed.count() - suppressed


def _rate(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def dashboard_get(*, days: int, today: dt.date | None = None) -> Dashboard:
    """Daily series of the last `days` days (UTC), in about ten aggregate queries."""
    today = today or timezone.now().date()
    first, since = _start(days, today)
    dates = [first + dt.timedelta(days=i) for i in range(days)]
    # The complaint rate looks back RATE_WINDOW - 1 days before the first day shown.
    rate_dates = [first - dt.timedelta(days=i) for i in range(RATE_WINDOW - 1, 0, -1)] + dates
    rate_since = since - dt.timedelta(days=RATE_WINDOW - 1)

    subs = Subscription.objects.all()
    signups = _series(
        dates, _per_day(subs.exclude(form_name=IMPORT_FORM_NAME), "created_at", since)
    )
    confirmations = _series(dates, _per_day(subs, "confirmed_at", since))
    unsub_found = _per_day(
        subs,
        "unsubscribed_at",
        since,
        confirmed=Count("pk", filter=Q(confirmed_at__lt=F("unsubscribed_at"))),
    )
    unsubscribes = _series(dates, unsub_found)
    # Confirmed subscribers who were blocked (bounce, complaint, admin): the suppression date.
    blocked_hashes = subs.filter(
        confirmed_at__isnull=False, status__in=Subscription.BLOCKED
    ).values("contact__email_hash")
    blocks = _series(
        dates,
        _per_day(Suppression.objects.filter(email_hash__in=blocked_hashes), "created_at", since),
    )
    events = (
        DeliveryEvent.objects.filter(
            received_at__gte=rate_since, event_type__in=["bounced", "complained"]
        )
        .annotate(day=TruncDate("received_at"))
        .values("day")
        .annotate(
            bounced=Count("pk", filter=Q(event_type="bounced")),
            complained=Count("pk", filter=Q(event_type="complained")),
        )
        .order_by()
    )
    event_found = {row.pop("day"): row for row in events}
    sent_found = _per_day(
        OutboundMail.objects.filter(
            status=OutboundMail.Status.SENT, created_at__gte=rate_since - dt.timedelta(days=2)
        ),
        "sent_at",
        rate_since,
    )
    sent_all = _series(rate_dates, sent_found)
    complaints_all = _series(rate_dates, event_found, "complained")
    skip = RATE_WINDOW - 1
    complaint_rate = [
        _rate(sum(complaints_all[i - skip : i + 1]), sum(sent_all[i - skip : i + 1]))
        for i in range(skip, len(rate_dates))
    ]
    views_found = {
        row["date"]: {"n": row["n"]}
        for row in PageViewDaily.objects.filter(date__gte=first)
        .values("date")
        .annotate(n=Sum("count"))
        .order_by()
    }
    page_views = _series(dates, views_found)

    confirmed_now = _confirmed_now()
    losses = [u + b for u, b in zip(_series(dates, unsub_found, "confirmed"), blocks, strict=True)]
    confirmed = [0] * days
    level = confirmed_now
    for i in range(days - 1, -1, -1):
        confirmed[i] = max(0, level)
        level = level - confirmations[i] + losses[i]

    board = Dashboard(
        days=days,
        dates=dates,
        confirmed_now=confirmed_now,
        confirmed=confirmed,
        signups=signups,
        confirmations=confirmations,
        unsubscribes=unsubscribes,
        bounces=_series(dates, event_found, "bounced"),
        complaints=complaints_all[skip:],
        sent=sent_all[skip:],
        complaint_rate=complaint_rate,
        page_views=page_views,
    )
    requests_model, downloads_model = ebook_model("EbookRequest"), ebook_model("EbookDownload")
    if requests_model is not None and _has_fields(requests_model, "created_at"):
        board.ebook_requests = _series(
            dates, _per_day(requests_model._default_manager.all(), "created_at", since)
        )
    if downloads_model is not None and _has_fields(downloads_model, "created_at"):
        board.ebook_downloads = _series(
            dates, _per_day(downloads_model._default_manager.all(), "created_at", since)
        )
    sent_total, complaints_total = sum(board.sent), sum(board.complaints)
    board.totals = {
        "growth": confirmed[-1] - (confirmed[0] - confirmations[0] + losses[0]),
        "signups": sum(signups),
        "confirmations": sum(confirmations),
        "confirm_rate": _rate(sum(confirmations), sum(signups)),
        "unsubscribes": sum(unsubscribes),
        "bounces": sum(board.bounces),
        "bounce_rate": _rate(sum(board.bounces), sent_total),
        "complaints": complaints_total,
        "sent": sent_total,
        "complaint_rate": _rate(complaints_total, sent_total),
        "page_views": sum(page_views),
        "ebook_requests": sum(board.ebook_requests) if board.ebook_requests else 0,
        "ebook_downloads": sum(board.ebook_downloads) if board.ebook_downloads else 0,
    }
    return board


# -- Funnel ------------------------------------------------------------------------------------


class Level(StrEnum):
    GUIDE = "guide"
    CHAPTER = "chapter"
    FORM = "form"


@dataclass
class FunnelRow:
    key: tuple[Any, ...]
    label: str
    detail: str = ""
    views: int = 0
    signups: int = 0
    confirmed: int = 0
    ebook_requests: int = 0

    @property
    def signup_rate(self) -> float | None:
        return _rate(self.signups, self.views)

    @property
    def confirm_rate(self) -> float | None:
        return _rate(self.confirmed, self.signups)

    @property
    def ebook_rate(self) -> float | None:
        return _rate(self.ebook_requests, self.views)


#: Sortable columns: query value -> (heading, sort key).
COLUMNS: dict[str, tuple[str, Callable[[FunnelRow], Any]]] = {
    "page": ("Page", lambda r: r.key),
    "views": ("Page views", lambda r: r.views),
    "signups": ("Signups", lambda r: r.signups),
    "signup_rate": ("Signup rate", lambda r: r.signup_rate),
    "confirmed": ("Confirmed", lambda r: r.confirmed),
    "confirm_rate": ("Confirm rate", lambda r: r.confirm_rate),
    "ebooks": ("eBook requests", lambda r: r.ebook_requests),
    "ebook_rate": ("eBook rate", lambda r: r.ebook_rate),
}
DEFAULT_SORT = "page"


def _page(guide_slug: str, chapter: int | None, form_name: str) -> tuple[str, int]:
    if form_name in HOME_FORMS or not guide_slug:
        return "", 0
    return guide_slug, chapter or 0


def _labels(level: Level, key: tuple[Any, ...]) -> tuple[str, str]:
    library = get_library()
    if level == Level.FORM:
        name = key[0]
        label = FORM_LABELS.get(name, name)
        return label, name
    guide_slug = key[0]
    if not guide_slug:
        return "Home and other pages", ""
    guide = library.guide(guide_slug)
    guide_title = guide.title if guide else f"{guide_slug} (no longer published)"
    if level == Level.GUIDE:
        return guide_title, guide_slug
    number = key[1]
    if number == 0:
        return "Guide overview", guide_title
    chapter = guide.chapters[number - 1] if guide and number <= len(guide.chapters) else None
    return (f"{number}. {chapter.title}" if chapter else f"Chapter {number}"), guide_title


def funnel_rows(*, days: int | None, level: Level, today: dt.date | None = None) -> list[FunnelRow]:
    """Page views -> signups -> confirmed -> eBook requests over the period, per guide, per
    chapter (the guide's own page is chapter 0) or per form, in three aggregate queries.

    Signups are subscriptions first requested in the period (imports left out); "confirmed"
    counts those of them confirmed since (a cohort). Page views don't know the form, so the
    per-form rows share the period's total views as their denominator.
    """
    today = today or timezone.now().date()
    views_qs = PageViewDaily.objects.all()
    subs_qs = Subscription.objects.exclude(form_name=IMPORT_FORM_NAME)
    requests_model = ebook_model("EbookRequest")
    with_ebooks = requests_model is not None and _has_fields(
        requests_model, "guide_slug", "chapter_number", "form_name", "created_at"
    )
    requests_qs = requests_model._default_manager.all() if with_ebooks else None  # type: ignore[union-attr]
    if days is not None:
        first, since = _start(days, today)
        views_qs = views_qs.filter(date__gte=first)
        subs_qs = subs_qs.filter(created_at__gte=since)
        if requests_qs is not None:
            requests_qs = requests_qs.filter(created_at__gte=since)

    rows: dict[tuple[Any, ...], FunnelRow] = {}
    total_views = 0

    def row_for(key: tuple[Any, ...]) -> FunnelRow:
        if key not in rows:
            rows[key] = FunnelRow(key, *_labels(level, key))
        return rows[key]

    def key_of(page: tuple[str, int], form_name: str) -> tuple[Any, ...]:
        if level == Level.FORM:
            return (form_name,)
        return (page[0],) if level == Level.GUIDE else page

    views = views_qs.values("guide_slug", "chapter_number").annotate(n=Sum("count")).order_by()
    for item in views:
        total_views += item["n"]
        if level != Level.FORM:
            row_for(key_of((item["guide_slug"], item["chapter_number"]), "")).views += item["n"]
    signups = (
        subs_qs.values("guide_slug", "chapter_number", "form_name")
        .annotate(n=Count("pk"), confirmed=Count("pk", filter=Q(confirmed_at__isnull=False)))
        .order_by()
    )
    for item in signups:
        page = _page(item["guide_slug"], item["chapter_number"], item["form_name"])
        row = row_for(key_of(page, item["form_name"]))
        row.signups += item["n"]
        row.confirmed += item["confirmed"]
    if requests_qs is not None:
        requests = (
            requests_qs.values("guide_slug", "chapter_number", "form_name")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for item in requests:
            page = _page(item["guide_slug"], item["chapter_number"], item["form_name"])
            row_for(key_of(page, item["form_name"])).ebook_requests += item["n"]
    if level == Level.FORM:
        for row in rows.values():
            row.views = total_views
    return list(rows.values())


def funnel_sort(rows: Iterable[FunnelRow], *, column: str, descending: bool) -> list[FunnelRow]:
    """Rows ordered by a COLUMNS key; rows without a value (no rate) always come last."""
    key = COLUMNS.get(column, COLUMNS[DEFAULT_SORT])[1]
    rows = list(rows)
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    if column == "page" or column not in COLUMNS:
        present.sort(key=lambda r: (r.key[0] == "", r.key), reverse=descending)
    else:
        present.sort(key=lambda r: (key(r), r.key), reverse=descending)
    return present + missing


def funnel_totals(rows: list[FunnelRow], *, level: Level) -> FunnelRow:
    total = FunnelRow(("total",), "All pages" if level != Level.FORM else "All forms")
    for row in rows:
        total.signups += row.signups
        total.confirmed += row.confirmed
        total.ebook_requests += row.ebook_requests
        total.views = row.views if level == Level.FORM else total.views + row.views
    return total
