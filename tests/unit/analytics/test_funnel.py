"""The per-chapter funnel on a known fixture: numbers, levels, sorting, the page and its CSV."""

import csv
import io

from django.contrib.auth.models import Permission, User
from django.urls import reverse

import pytest

from analytics.selectors import Level, funnel_rows, funnel_sort, funnel_totals
from tests.unit.analytics.conftest import GUIDE, OTHER

pytestmark = pytest.mark.django_db

URL = reverse("admin:analytics_funnelreport_changelist")


def by_key(rows):
    return {r.key: (r.views, r.signups, r.confirmed, r.ebook_requests) for r in rows}


def test_per_chapter(funnel_fixture):
    rows = by_key(funnel_rows(days=30, level=Level.CHAPTER))
    assert rows == {
        (GUIDE, 5): (1000, 4, 3, 4),
        (GUIDE, 6): (500, 1, 0, 0),
        (GUIDE, 0): (200, 1, 1, 0),
        ("", 0): (300, 1, 1, 0),  # the home box carries a guide slug but is the home page
        (OTHER, 1): (100, 0, 0, 0),
    }


def test_rates(funnel_fixture):
    row = next(r for r in funnel_rows(days=30, level=Level.CHAPTER) if r.key == (GUIDE, 5))
    assert row.signup_rate == pytest.approx(0.4)
    assert row.confirm_rate == pytest.approx(75.0)
    assert row.ebook_rate == pytest.approx(0.4)
    assert row.label.startswith("5. Roadmaps")
    assert row.detail == "The Modern Product Manager"
    empty = next(r for r in funnel_rows(days=30, level=Level.CHAPTER) if r.key == (OTHER, 1))
    assert empty.confirm_rate is None  # no signups: no rate, not 0 %


def test_per_guide(funnel_fixture):
    assert by_key(funnel_rows(days=30, level=Level.GUIDE)) == {
        (GUIDE,): (1700, 6, 4, 4),
        ("",): (300, 1, 1, 0),
        (OTHER,): (100, 0, 0, 0),
    }


def test_per_form_shares_the_total_views(funnel_fixture):
    assert by_key(funnel_rows(days=30, level=Level.FORM)) == {
        ("inline",): (2100, 4, 2, 0),
        ("pdf",): (2100, 1, 1, 4),
        ("guide",): (2100, 1, 1, 0),
        ("home",): (2100, 1, 1, 0),
    }


def test_period_all_time_includes_older_rows(funnel_fixture):
    rows = by_key(funnel_rows(days=None, level=Level.CHAPTER))
    assert rows[(GUIDE, 5)] == (10999, 5, 4, 4)
    assert all(key != ("", 0) or value[1] == 1 for key, value in rows.items())  # no import


def test_sorting_and_totals(funnel_fixture):
    rows = funnel_rows(days=30, level=Level.CHAPTER)
    ordered = funnel_sort(rows, column="signups", descending=True)
    assert ordered[0].key == (GUIDE, 5)
    by_rate = funnel_sort(rows, column="confirm_rate", descending=False)
    assert by_rate[0].key == (GUIDE, 6)  # 0 %
    assert by_rate[-1].key == (OTHER, 1)  # no rate: always last
    total = funnel_totals(rows, level=Level.CHAPTER)
    assert (total.views, total.signups, total.confirmed, total.ebook_requests) == (2100, 7, 5, 4)


def test_admin_page_sorts_server_side(admin_client, funnel_fixture):
    html = admin_client.get(URL, {"by": "chapter", "o": "-views"}).content.decode()
    assert (
        html.index("5. Roadmaps") < html.index("6. Prioritization") < html.index("Guide overview")
    )
    html = admin_client.get(URL, {"by": "chapter", "o": "views"}).content.decode()
    assert html.index("Guide overview") < html.index("6. Prioritization")
    assert 'aria-sort="ascending"' in html
    assert " style=" not in html


def test_admin_page_levels_periods_and_bad_params(admin_client, funnel_fixture):
    for params in (
        {"by": "guide"},
        {"by": "form"},
        {"days": "all"},
        {"days": "7"},
        {"by": "nope", "o": "-nope"},
    ):
        response = admin_client.get(URL, params)
        assert response.status_code == 200, params
    html = admin_client.get(URL, {"by": "form"}).content.decode()
    assert "PDF form (chapter)" in html
    assert "Newsletter box (chapter)" in html


def test_csv_download(admin_client, funnel_fixture):
    response = admin_client.get(URL, {"by": "chapter", "o": "-signups", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["page", "detail", "page_views", "signups"]
    assert rows[1][0].startswith("5. Roadmaps")
    assert rows[1][1:8] == ["The Modern Product Manager", "1000", "4", "0.40", "3", "75.00", "4"]
    assert rows[-1][0] == "All pages"


def test_empty_state(admin_client):
    html = admin_client.get(URL).content.decode()
    assert "Nothing to show for this period yet" in html


def test_permission_required(client):
    user = User.objects.create_user("marketer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_funnelreport"))
    user = User.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(URL).status_code == 200
