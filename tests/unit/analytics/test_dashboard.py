"""The growth dashboard on the admin index: figures, CSP-safe markup, bounded queries."""

import datetime as dt
import re

from django.contrib.auth.models import Permission, User
from django.utils import timezone

import pytest

from analytics.selectors import dashboard_get
from mailings.models import DeliveryEvent, OutboundMail
from tests.unit.analytics.conftest import ebook_request, signup, views

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


def ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def history():
    signup("old@example.com", confirmed=True, when=ago(60))
    signup("ten@example.com", confirmed=True, when=ago(10))
    left = signup("left@example.com", confirmed=True, when=ago(20))
    left.status, left.unsubscribed_at = "unsubscribed", ago(5)
    left.save(update_fields=["status", "unsubscribed_at"])
    signup("today@example.com", confirmed=True)
    signup("pending@example.com")


def test_confirmed_subscribers_rebuilt_from_events(history):
    board = dashboard_get(days=30)
    series = board.confirmed
    assert board.confirmed_now == 3
    assert series[29] == 3  # today
    assert series[25:29] == [2, 2, 2, 2]
    assert series[24] == 2  # the unsubscribe five days ago
    assert series[19:24] == [3] * 5
    assert series[9:19] == [2] * 10
    assert series[0:9] == [1] * 9
    assert board.totals["growth"] == 2
    assert sum(board.signups) == 4  # the 60-day-old one is outside the period
    assert sum(board.confirmations) == 3
    assert sum(board.unsubscribes) == 1


def test_complaint_rate_bounces_and_views():
    yesterday = ago(1)
    OutboundMail.objects.bulk_create(
        OutboundMail(
            to_email=f"r{i}@example.com",
            template="welcome",
            category="marketing",
            status="sent",
            sent_at=yesterday,
        )
        for i in range(2000)
    )
    for i, kind in enumerate(["complained", "bounced", "bounced"]):
        DeliveryEvent.objects.create(esp_name="test", event_id=str(i), event_type=kind)
    views("modern-product-management", 5, 120)
    board = dashboard_get(days=30)
    assert board.totals["sent"] == 2000
    assert board.totals["complaints"] == 1
    assert board.totals["complaint_rate"] == pytest.approx(0.05)
    # The mails went out yesterday, the complaint arrived today: the 7-day windows ending
    # yesterday and today see 0 % and 0.05 %.
    assert board.complaint_rate[28] == 0
    assert board.complaint_rate[29] == pytest.approx(0.05)
    assert board.complaint_rate[0] is None  # nothing sent in that window
    assert board.totals["bounces"] == 2
    assert board.totals["page_views"] == 120


def test_ebook_series(history):
    ebook_request("reader@example.com")
    board = dashboard_get(days=30)
    assert board.ebook_requests is not None
    assert sum(board.ebook_requests) == 1
    assert board.ebook_downloads is not None


def test_index_renders_the_dashboard_within_bounded_queries(
    admin_client, history, django_assert_max_num_queries
):
    ebook_request("reader@example.com")
    admin_client.get(INDEX)  # warm the session and the ebooks table check
    with django_assert_max_num_queries(20):
        response = admin_client.get(INDEX, {"days": "90"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Confirmed subscribers" in html
    assert html.count("<svg") >= 6
    assert 'href="?days=365"' in html
    assert 'aria-current="page" class="active">90 days' in html
    assert "/static/css/admin-dashboard.css" in html
    assert "0.1 %" in html
    assert "0.3 %" in html
    assert "Chapter funnel" in html
    # CSP: style-src 'self' without 'unsafe-inline' -> no style attributes, no <style> blocks.
    dashboard = html[html.index('class="ch-dashboard"') : html.index('class="ch-index"')]
    assert not re.search(r"\sstyle=", dashboard)
    assert "<style" not in dashboard
    assert "<script" not in dashboard


def test_query_count_does_not_grow_with_data(admin_client, django_assert_max_num_queries):
    admin_client.get(INDEX)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get(INDEX, {"days": "365"})
    for i in range(30):
        signup(f"s{i}@example.com", confirmed=i % 2 == 0, when=ago(i * 7))
        views("modern-product-management", (i % 12) + 1, i, day=ago(i).date())
    with CaptureQueriesContext(connection) as many:
        admin_client.get(INDEX, {"days": "365"})
    assert len(many) == len(few)


def test_bad_period_falls_back_to_30_days(admin_client):
    html = admin_client.get(INDEX, {"days": "7; drop"}).content.decode()
    assert 'aria-current="page" class="active">30 days' in html


def test_empty_state(admin_client):
    html = admin_client.get(INDEX).content.decode()
    assert "No data yet." in html


def test_hidden_without_permission(client):
    user = User.objects.create_user("helper", password="pw", is_staff=True)
    client.force_login(user)
    html = client.get(INDEX).content.decode()
    assert "ch-dashboard" not in html
    user.user_permissions.add(Permission.objects.get(codename="view_funnelreport"))
    client.force_login(User.objects.get(pk=user.pk))
    assert "ch-dashboard" in client.get(INDEX).content.decode()
