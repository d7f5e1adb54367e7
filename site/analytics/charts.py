"""Server-rendered SVG charts for the admin: no JavaScript, no inline styles (CSP-safe).

Geometry is SVG attributes (x, y, width, height, points); colours and strokes come from
classes styled in core/static/css/admin-dashboard.css. Each day has an invisible column with
a <title>, which browsers show as a tooltip. Pure functions: data in, markup out.
"""

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 190
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 10, 24
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
BASE = TOP + PLOT_H


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    #: Colour class suffix: c1..c5 (admin-dashboard.css).
    colour: str = "c1"
    #: "line", "area" (line with a filled area) or "bar" (bars stack in series order).
    kind: str = "line"


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str
    colour: str = "warn"


def number(value: float | None, *, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.2f} %"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def nice_max(value: float, *, minimum: float = 0) -> tuple[float, float]:
    """(axis maximum, tick step) for 4 ticks above zero covering `value`."""
    value = max(value, minimum, 1e-9)
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * 4, step


def _fmt_xy(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def chart_svg(
    *,
    title: str,
    dates: Sequence[dt.date],
    series: Sequence[Series],
    thresholds: Sequence[Threshold] = (),
    unit: str = "",
    minimum: float = 4,
    label: Callable[[float | None], str] | None = None,
) -> SafeString:
    """An accessible SVG chart of daily series (one value per date)."""
    show = label or (lambda v: number(v, unit=unit))
    n = max(1, len(dates))
    bars = [s for s in series if s.kind == "bar"]
    stacked = [sum((s.values[i] or 0) for s in bars) for i in range(n)] if bars else []
    peaks = [v for s in series if s.kind != "bar" for v in s.values if v is not None]
    peak = max([*peaks, *stacked, *(t.value * 1.2 for t in thresholds), 0])
    top, step = nice_max(peak, minimum=minimum if unit != "%" else 0.4)
    col = PLOT_W / n

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * col

    def y(v: float) -> float:
        return BASE - (v / top) * PLOT_H

    uid = "ch-" + "".join(c for c in title.lower() if c.isalnum())[:24]
    parts = [
        f'<svg class="ch" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-labelledby="{uid}-t {uid}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(_describe(series, show))}</desc>',
        '<g class="ch-grid">',
    ]
    ticks = 4
    for k in range(ticks + 1):
        value = step * k
        ty = _fmt_xy(y(value))
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}"/>')
    parts.append('</g><g class="ch-axis">')
    for k in range(ticks + 1):
        value = step * k
        parts.append(
            f'<text x="{LEFT - 6}" y="{_fmt_xy(y(value) + 3.5)}" text-anchor="end">'
            f"{escape(show(value) if unit != '%' else f'{value:g} %')}</text>"
        )
    for i in _date_ticks(n):
        parts.append(
            f'<text x="{_fmt_xy(x(i))}" y="{HEIGHT - 6}" text-anchor="middle">'
            f"{dates[i]:%b} {dates[i].day}</text>"
        )
    parts.append("</g>")

    if bars:
        parts.append('<g class="ch-bars">')
        width = max(0.8, col * (0.72 if n <= 120 else 0.9))
        floor = [0.0] * n
        for s in bars:
            for i in range(n):
                v = s.values[i] or 0
                if v <= 0:
                    continue
                y0, y1 = y(floor[i]), y(floor[i] + v)
                parts.append(
                    f'<rect class="ch-fill-{s.colour}" x="{_fmt_xy(x(i) - width / 2)}" '
                    f'y="{_fmt_xy(y1)}" width="{_fmt_xy(width)}" height="{_fmt_xy(y0 - y1)}"/>'
                )
                floor[i] += v
        parts.append("</g>")
    for s in series:
        if s.kind == "bar":
            continue
        for run in _runs(s.values):
            points = " ".join(f"{_fmt_xy(x(i))},{_fmt_xy(y(v))}" for i, v in run)
            if s.kind == "area" and len(run) > 1:
                first, last = run[0][0], run[-1][0]
                polygon = f"{_fmt_xy(x(first))},{BASE} {points} {_fmt_xy(x(last))},{BASE}"
                parts.append(f'<polygon class="ch-area ch-fill-{s.colour}" points="{polygon}"/>')
            if len(run) == 1:
                i, v = run[0]
                parts.append(
                    f'<circle class="ch-fill-{s.colour}" cx="{_fmt_xy(x(i))}" '
                    f'cy="{_fmt_xy(y(v))}" r="2"/>'
                )
            else:
                parts.append(f'<polyline class="ch-line ch-{s.colour}" points="{points}"/>')
    for t in thresholds:
        ty = _fmt_xy(y(t.value))
        parts.append(
            f'<line class="ch-threshold ch-{t.colour}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{ty}" y2="{ty}"/>'
            f'<text class="ch-threshold-label ch-text-{t.colour}" x="{WIDTH - RIGHT - 4}" '
            f'y="{_fmt_xy(y(t.value) - 4)}" text-anchor="end">{escape(t.label)}</text>'
        )
    parts.append('<g class="ch-hover">')
    for i in range(n):
        tip = f"{dates[i]:%a} {dates[i].day} {dates[i]:%b %Y}" + "".join(
            f"\n{s.label}: {show(s.values[i])}" for s in series
        )
        parts.append(
            f'<rect x="{_fmt_xy(LEFT + i * col)}" y="{TOP}" width="{_fmt_xy(col)}" '
            f'height="{PLOT_H}"><title>{escape(tip)}</title></rect>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _date_ticks(n: int, count: int = 6) -> list[int]:
    if n <= count:
        return list(range(n))
    return sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive stretches without None (a line has gaps where there is no value)."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, v in enumerate(values):
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, float(v)))
    if current:
        runs.append(current)
    return runs


def _describe(series: Sequence[Series], show: Callable[[float | None], str]) -> str:
    bits = []
    for s in series:
        present = [v for v in s.values if v is not None]
        if not present:
            bits.append(f"{s.label}: no data")
        elif s.kind == "area" or s.label.lower().endswith("rate"):
            bits.append(f"{s.label}: from {show(present[0])} to {show(present[-1])}")
        else:
            bits.append(f"{s.label}: {show(sum(present))} in total")
    return "; ".join(bits) + "."


def rate_bar(value: float | None, peak: float | None) -> SafeString:
    """A small horizontal bar for a rate cell, scaled to the column's largest value."""
    if value is None or not peak:
        return mark_safe("")
    width = max(1.0, 56 * min(value, peak) / peak)
    return mark_safe(  # noqa: S308 - a number is the only variable part
        '<svg class="rate-bar" viewBox="0 0 56 6" width="56" height="6" aria-hidden="true">'
        '<rect class="rate-bar-bg" width="56" height="6" rx="1"/>'
        f'<rect class="rate-bar-fg" width="{_fmt_xy(width)}" height="6" rx="1"/></svg>'
    )
