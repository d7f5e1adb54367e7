"""Admin pages of analytics: the dashboard on the admin index and the chapter funnel.

Thin: read the query parameters, call the selectors, render (or stream a CSV). The funnel is
mounted by analytics.admin.FunnelReportAdmin; the dashboard by the `admin_dashboard` tag in
templates/admin/index.html.
"""

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import charts, selectors
from analytics.selectors import COLUMNS, Level
from campaigns.results import campaigns_complaint_flagged
from contacts.exporting import csv_lines
from core import liveness

#: Who may see the dashboard and the funnel: the "view" permission of the funnel page.
PERMISSION = "analytics.view_funnelreport"

FUNNEL_PERIODS = {"30": 30, "90": 90, "365": 365, "all": None}
NUMERIC_FIRST_DESC = frozenset(COLUMNS) - {"page"}


def _stale_heartbeats() -> list[liveness.Liveness]:
    """Queues whose worker or beat stopped answering (nothing is sent or swept there)."""
    if not liveness.background_expected():
        return []
    return [beat for beat in liveness.liveness_get() if beat.stale]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """Everything templates/admin/analytics/dashboard.html needs (empty without permission)."""
    if not request.user.has_perm(PERMISSION):
        return {"show": False}
    days = selectors.period_days(request.GET.get("days"))
    board = selectors.dashboard_get(days=days)
    dates = board.dates
    chart_list = [
        {
            "id": "confirmed",
            "title": "Confirmed subscribers",
            "legend": [("c1", "Confirmed, end of day")],
            "svg": charts.chart_svg(
                title="Confirmed subscribers",
                dates=dates,
                series=[charts.Series("Confirmed", board.confirmed, "c1", "area")],
            ),
        },
        {
            "id": "signups",
            "title": "Signups and confirmations",
            "legend": [("c2", "Signups"), ("c1", "Confirmations")],
            "svg": charts.chart_svg(
                title="Signups and confirmations",
                dates=dates,
                series=[
                    charts.Series("Signups", board.signups, "c2"),
                    charts.Series("Confirmations", board.confirmations, "c1"),
                ],
            ),
        },
        {
            "id": "leaving",
            "title": "Unsubscribes and bounces",
            "legend": [("c3", "Unsubscribes"), ("c4", "Bounces")],
            "svg": charts.chart_svg(
                title="Unsubscribes and bounces",
                dates=dates,
                series=[
                    charts.Series("Unsubscribes", board.unsubscribes, "c3", "bar"),
                    charts.Series("Bounces", board.bounces, "c4", "bar"),
                ],
            ),
        },
        {
            "id": "complaints",
            "title": f"Complaint rate ({selectors.RATE_WINDOW}-day)",
            "legend": [
                ("c4", "Spam complaints per mail sent"),
                ("warn", "0.1 % keep below"),
                ("limit", "0.3 % never reach"),
            ],
            "svg": charts.chart_svg(
                title="Complaint rate",
                dates=dates,
                unit="%",
                series=[charts.Series("Complaint rate", board.complaint_rate, "c4")],
                thresholds=[
                    charts.Threshold(selectors.COMPLAINT_WARN, "0.1 %", "warn"),
                    charts.Threshold(selectors.COMPLAINT_LIMIT, "0.3 %", "limit"),
                ],
            ),
        },
        {
            "id": "views",
            "title": "Page views",
            "legend": [("c5", "Guide and chapter pages")],
            "svg": charts.chart_svg(
                title="Page views",
                dates=dates,
                series=[charts.Series("Page views", board.page_views, "c5", "bar")],
            ),
        },
    ]
    if board.ebook_requests is not None:
        series = [charts.Series("eBook requests", board.ebook_requests, "c2")]
        legend = [("c2", "Requests")]
        if board.ebook_downloads is not None:
            series.append(charts.Series("Downloads", board.ebook_downloads, "c1"))
            legend.append(("c1", "Downloads"))
        chart_list.append(
            {
                "id": "ebooks",
                "title": "eBook requests and downloads",
                "legend": legend,
                "svg": charts.chart_svg(
                    title="eBook requests and downloads", dates=dates, series=series
                ),
            }
        )
    rate = board.totals["complaint_rate"]
    health = (
        "none"
        if rate is None
        else (
            "ok"
            if rate < selectors.COMPLAINT_WARN
            else "warn"
            if rate < selectors.COMPLAINT_LIMIT
            else "bad"
        )
    )
    return {
        "show": True,
        "stale_heartbeats": _stale_heartbeats(),
        "board": board,
        "totals": board.totals,
        "charts": chart_list,
        "periods": [(d, d == days) for d in selectors.PERIODS],
        "days": days,
        "complaint_health": health,
        # Campaigns started in the period whose own complaint rate is over the line.
        "flagged_campaigns": campaigns_complaint_flagged(since=_day_start(dates[0])),
        "has_ebooks": board.ebook_requests is not None,
        "first": dates[0],
        "last": dates[-1],
    }


def _funnel_params(request: HttpRequest) -> tuple[str, int | None, Level, str, bool]:
    period = request.GET.get("days", "30")
    if period not in FUNNEL_PERIODS:
        period = "30"
    try:
        level = Level(request.GET.get("by", Level.CHAPTER))
    except ValueError:
        level = Level.CHAPTER
    order = request.GET.get("o", selectors.DEFAULT_SORT)
    descending = order.startswith("-")
    column = order.lstrip("-")
    if column not in COLUMNS:
        column, descending = selectors.DEFAULT_SORT, False
    return period, FUNNEL_PERIODS[period], level, column, descending


def _rate_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def funnel_page(request: HttpRequest, *, context: dict[str, Any]) -> HttpResponse:
    """The funnel table (sortable by ?o=column or -column), or its CSV with ?format=csv."""
    period, days, level, column, descending = _funnel_params(request)
    rows = selectors.funnel_sort(
        selectors.funnel_rows(days=days, level=level), column=column, descending=descending
    )
    total = selectors.funnel_totals(rows, level=level)
    if request.GET.get("format") == "csv":
        header = [
            "page",
            "detail",
            "page_views",
            "signups",
            "signup_rate_pct",
            "confirmed",
            "confirm_rate_pct",
            "ebook_requests",
            "ebook_rate_pct",
        ]
        body = [
            [
                r.label,
                r.detail,
                r.views,
                r.signups,
                _rate_cell(r.signup_rate),
                r.confirmed,
                _rate_cell(r.confirm_rate),
                r.ebook_requests,
                _rate_cell(r.ebook_rate),
            ]
            for r in [*rows, total]
        ]
        response = StreamingHttpResponse(
            csv_lines(header, body), content_type="text/csv; charset=utf-8"
        )
        name = f"funnel-by-{level}-{period}d-{timezone.now():%Y-%m-%d}.csv".replace("alld", "all")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response

    def link(**changes: str) -> str:
        params = {"days": period, "by": level.value, "o": ("-" if descending else "") + column}
        params.update(changes)
        return "?" + urlencode(params)

    peaks = {
        "signup_rate": max((r.signup_rate or 0 for r in rows), default=0),
        "confirm_rate": max((r.confirm_rate or 0 for r in rows), default=0),
        "ebook_rate": max((r.ebook_rate or 0 for r in rows), default=0),
    }
    table = [
        {
            "row": r,
            "signup_bar": charts.rate_bar(r.signup_rate, peaks["signup_rate"]),
            "confirm_bar": charts.rate_bar(r.confirm_rate, peaks["confirm_rate"]),
            "ebook_bar": charts.rate_bar(r.ebook_rate, peaks["ebook_rate"]),
        }
        for r in rows
    ]
    headers = []
    for key, (title, _) in COLUMNS.items():
        active = key == column
        if active:
            next_order = key if descending else f"-{key}"
        else:
            next_order = f"-{key}" if key in NUMERIC_FIRST_DESC else key
        headers.append(
            {
                "key": key,
                "title": title,
                "url": link(o=next_order),
                "active": active,
                "descending": descending,
                "numeric": key != "page",
            }
        )
    with_ebooks = selectors.ebook_model("EbookRequest") is not None
    context.update(
        {
            "title": "Chapter funnel",
            "rows": table,
            "total": total,
            "headers": headers if with_ebooks else [h for h in headers if "ebook" not in h["key"]],
            "with_ebooks": with_ebooks,
            "level": level.value,
            "levels": [
                (lv.value, f"By {lv.value}", link(by=lv.value), lv == level) for lv in Level
            ],
            "periods": [
                (key, "All time" if key == "all" else f"{key} days", link(days=key), key == period)
                for key in FUNNEL_PERIODS
            ],
            "csv_url": link(format="csv"),
            "is_form_level": level == Level.FORM,
        }
    )
    return TemplateResponse(request, "admin/analytics/funnel.html", context)
