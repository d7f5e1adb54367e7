"""The SVG chart builder: scales, gaps, escaping, and no inline styles (CSP)."""

import datetime as dt

from analytics.charts import Series, Threshold, chart_svg, nice_max, rate_bar

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(10)]


def test_nice_max():
    assert nice_max(0, minimum=4) == (4, 1)
    assert nice_max(7) == (8, 2)
    assert nice_max(123) == (200, 50)
    assert nice_max(0.33) == (0.4, 0.1)


def test_markup_is_csp_safe_and_escaped():
    svg = chart_svg(
        title="<b>Signups</b>",
        dates=DAYS,
        series=[
            Series("A & B", [1, 2, None, 4, 5, 6, 7, 8, 9, 10], "c1", "area"),
            Series("Bars", list(range(10)), "c2", "bar"),
        ],
        thresholds=[Threshold(0.3, "0.3 %", "limit")],
    )
    assert "style=" not in svg
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    assert "A &amp; B" in svg
    assert svg.count("<polyline") == 2  # the None splits the line in two
    assert 'role="img"' in svg
    assert svg.count("<title>") == 10  # one tooltip per day


def test_single_points_and_empty_series():
    svg = chart_svg(title="x", dates=DAYS[:3], series=[Series("s", [None, 3, None])])
    assert "<circle" in svg
    svg = chart_svg(title="x", dates=DAYS[:1], series=[Series("s", [0])], unit="%")
    assert "<svg" in svg


def test_rate_bar():
    assert rate_bar(None, 10) == ""
    bar = rate_bar(5, 10)
    assert 'width="28"' in bar
    assert "style=" not in bar
