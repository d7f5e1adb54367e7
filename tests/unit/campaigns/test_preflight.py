"""Pre-flight: what blocks "Send now", what only warns, and that sending refuses a blocker."""

from django.contrib import messages
from django.urls import reverse

import pytest

from campaigns import preflight, services
from campaigns.models import Campaign
from core.models import AuditEntry
from tests.unit.campaigns.conftest import make_campaign, subscribers

pytestmark = pytest.mark.django_db


def codes(campaign: Campaign) -> dict[str, str]:
    return {f.code: f.level for f in preflight.campaign_preflight(campaign=campaign).findings}


def test_a_ready_campaign_has_no_finding():
    subscribers("ann@example.com")
    campaign = make_campaign(
        body="Read [the guide](/modern-product-management/) and [more](https://example.org/x)."
    )
    check = preflight.campaign_preflight(campaign=campaign)
    assert (check.findings, check.recipients, check.can_send) == ((), 1, True)


@pytest.mark.parametrize(
    ("setting", "value", "code"),
    [
        (None, None, "empty_audience"),
        ("MAIL_POSTAL_ADDRESS", "  ", "no_postal_address"),
        ("DEFAULT_FROM_EMAIL", "", "no_sender"),
        ("DEFAULT_FROM_EMAIL", "Chapterhouse <not an address>", "no_sender"),
    ],
)
def test_each_blocker_stops_the_send_service(settings, run_on_commit, setting, value, code):
    if setting is None:
        subscribers("ann@example.com", status="unsubscribed")  # nobody confirmed
    else:
        subscribers("ann@example.com")
        setattr(settings, setting, value)
    campaign = make_campaign(body="Hello.")
    assert codes(campaign) == {code: preflight.Level.BLOCKER}
    with run_on_commit(), pytest.raises(preflight.PreflightBlockedError, match="Not sent"):
        services.campaign_send(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_started_at) == (Campaign.Status.DRAFT, None)
    assert not AuditEntry.objects.filter(action="campaign_send").exists()


def test_links_to_our_own_pages_that_would_404_and_a_long_subject_only_warn(settings):
    subscribers("ann@example.com")
    body = (
        "[guide](/modern-product-management/) [chapter](/modern-product-management/roadmaps/) "
        "[no slash](/modern-product-management) [old chapter](/modern-product-management/5/) "
        f"[gone guide]({settings.SITE_URL}/no-such-guide/) [nowhere](/s/nowhere/) "
        "[elsewhere](https://example.org/missing/) ![logo](/static/no-such.png)"
    )
    campaign = make_campaign(subject="S" * 81, body=body)
    check = preflight.campaign_preflight(campaign=campaign)
    assert check.can_send
    broken = [f.message.split(" ")[0] for f in check.warnings if f.code == "broken_link"]
    site = settings.SITE_URL
    assert broken == [
        f"{site}/modern-product-management/5/",
        f"{site}/no-such-guide/",
        f"{site}/s/nowhere/",
        f"{site}/static/no-such.png",
    ]
    assert [f.code for f in check.warnings if f.code != "broken_link"] == ["long_subject"]
    assert "81 characters" in check.warnings[0].message


def test_the_send_page_shows_the_panel_and_no_send_button_while_blocked(admin_client):
    campaign = make_campaign()  # nobody subscribed
    page = admin_client.get(reverse("admin:campaigns_campaign_send", args=[campaign.pk]))
    html = page.content.decode()
    assert "Before sending" in html
    assert "Nobody to send to" in html
    assert "Yes, send to" not in html
    change = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert "Cannot be sent yet" in change.content.decode()


def test_posting_send_anyway_is_refused_with_a_message_not_a_500(admin_client, run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        response = admin_client.post(
            reverse("admin:campaigns_campaign_send", args=[campaign.pk]), follow=True
        )
    assert response.status_code == 200
    [message] = list(response.context["messages"])
    assert message.level == messages.ERROR
    assert "Nobody to send to" in message.message
    assert Campaign.objects.get().status == Campaign.Status.DRAFT
