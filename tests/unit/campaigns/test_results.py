"""Campaign results from stored ESP events and the consent ledger: one query, a safe CSV."""

import csv
import io
import itertools
from datetime import UTC, datetime

from django.urls import reverse

import pytest
from anymail.signals import AnymailTrackingEvent, tracking

from campaigns import results, services
from campaigns.models import Campaign, CampaignRecipient
from contacts.services import Actor, subscription_unsubscribe
from tests.unit.campaigns.conftest import make_campaign, subscribers

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _one_message_per_mail(settings):
    """The single-mail path (each mail its own Message-ID): mailings matches an event to its
    mail by message id alone, and the Anymail test backend gives a whole batch one id."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def event(campaign: Campaign, email: str, event_type: str, **esp_event: str) -> None:
    """An ESP webhook event for the campaign mail to `email`, through Anymail's signal."""
    mail = CampaignRecipient.objects.get(campaign=campaign, contact__email=email).mail
    tracking.send(
        sender=object,
        event=AnymailTrackingEvent(
            event_type=event_type,
            event_id=f"ev-{next(_ids)}",
            message_id=mail.esp_message_id,
            recipient=email,
            timestamp=datetime.now(UTC),
            esp_event=esp_event,
        ),
        esp_name="Postmark",
    )


def sent_campaign(run_on_commit, *emails: str, **fields: str) -> Campaign:
    campaign = make_campaign(**fields)
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    return campaign


def test_each_outcome_is_counted_once_per_recipient_in_one_query(
    run_on_commit, django_assert_num_queries
):
    subs = subscribers(*(f"{n}@example.com" for n in ("ann", "bob", "cyd", "dan", "eve", "fay")))
    campaign = sent_campaign(run_on_commit)
    for email in ("ann", "dan", "eve", "fay"):
        event(campaign, f"{email}@example.com", "delivered")
    event(campaign, "ann@example.com", "opened")
    event(campaign, "ann@example.com", "opened")  # a second open of the same mail
    event(campaign, "ann@example.com", "clicked")
    event(campaign, "bob@example.com", "bounced", Type="HardBounce")  # suppresses the address
    event(campaign, "cyd@example.com", "bounced", Type="SoftBounce", Inactive=False)
    event(campaign, "dan@example.com", "complained")
    subscription_unsubscribe(subscription_id=subs[4].pk, actor=Actor(detail="one-click"))
    staff = Actor(detail="admin mia: unsubscribe")  # staff did it: not the campaign's doing
    subscription_unsubscribe(subscription_id=subs[5].pk, actor=staff)

    with django_assert_num_queries(1):
        figures = results.campaign_results(campaign_id=campaign.pk)

    counts = {o.key: o.count for o in figures.outcomes}
    assert (figures.mails, figures.sent) == (6, 6)
    assert counts == {"delivered": 4, "bounced_hard": 1, "bounced_soft": 1, "complained": 1,
                      "unsubscribed": 1, "opened": 1, "clicked": 1}  # fmt: skip
    assert figures.by_key["delivered"].rate == pytest.approx(400 / 6)
    assert figures.complaint_rate == pytest.approx(100 / 6)
    assert figures.complaint_flagged


def test_an_unsubscribe_counts_for_the_last_campaign_that_reached_the_reader(run_on_commit):
    [sub] = subscribers("ann@example.com")
    first = sent_campaign(run_on_commit, subject="First")
    second = sent_campaign(run_on_commit, subject="Second")
    subscription_unsubscribe(subscription_id=sub.pk, actor=Actor(detail="unsubscribe page"))
    assert results.campaign_results(campaign_id=second.pk).by_key["unsubscribed"].count == 1
    assert results.campaign_results(campaign_id=first.pk).by_key["unsubscribed"].count == 0


def test_opens_and_clicks_show_as_not_reported_without_tracking_events(run_on_commit):
    subscribers("ann@example.com")
    campaign = sent_campaign(run_on_commit)
    event(campaign, "ann@example.com", "delivered")
    figures = results.campaign_results(campaign_id=campaign.pk)
    assert [o.key for o in figures.outcomes if not o.reported] == ["opened", "clicked"]
    assert figures.complaint_rate == 0.0
    assert not figures.complaint_flagged


def test_the_csv_has_one_row_per_recipient_and_no_formula(admin_client, run_on_commit):
    subscribers("=cmd@example.com", "bob@example.com")
    campaign = sent_campaign(run_on_commit)
    event(campaign, "=cmd@example.com", "complained")
    response = admin_client.get(reverse("admin:campaigns_campaign_results_csv", args=[campaign.pk]))
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(results.CSV_COLUMNS)
    by_email = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_email) == {"'=cmd@example.com", "bob@example.com"}  # neutralised
    assert by_email["'=cmd@example.com"]["complained"] == "yes"
    assert by_email["bob@example.com"]["complained"] == ""
    assert by_email["bob@example.com"]["mail_status"] == "sent"


def test_the_results_page_flags_a_high_complaint_rate_and_the_csv_needs_export_rights(
    client, admin_client, marketer, run_on_commit
):
    subscribers("ann@example.com", "bob@example.com")
    campaign = sent_campaign(run_on_commit)
    event(campaign, "ann@example.com", "complained")
    page = admin_client.get(reverse("admin:campaigns_campaign_results", args=[campaign.pk]))
    html = page.content.decode()
    assert "Complaint rate 50.00 %: above 0.1 %." in html
    assert 'role="alert"' in html
    assert "Download per-recipient CSV" in html
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert (
        reverse("admin:campaigns_campaign_results", args=[campaign.pk]) in change.content.decode()
    )
    dashboard = admin_client.get(reverse("admin:index")).content.decode()
    assert "Complaint rate above 0.1 % on 1 campaign</strong>" in dashboard
    assert "50.00 % (1 of 2 sent)" in dashboard

    marketer.user_permissions.clear()
    marketer.groups.clear()
    marketer.user_permissions.add(
        *type(marketer).user_permissions.field.related_model.objects.filter(
            content_type__app_label="campaigns", codename="view_campaign"
        )
    )
    csv_url = reverse("admin:campaigns_campaign_results_csv", args=[campaign.pk])
    assert client.get(csv_url).status_code == 403
