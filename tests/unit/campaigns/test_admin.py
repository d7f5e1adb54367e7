"""Campaign admin: drafts, preview, test send, the send confirmation, permissions."""

from django.contrib.auth.models import Permission
from django.core import mail as django_mail
from django.urls import reverse

import pytest

from campaigns import services
from campaigns.models import Campaign
from contacts.services import subscription_unsubscribe
from mailings.models import OutboundMail
from mailings.services import mail_send
from tests.unit.accounts.conftest import make_staff
from tests.unit.campaigns.conftest import BODY, make_campaign, subscribers
from tests.unit.contacts.conftest import ACTOR

pytestmark = pytest.mark.django_db

ADD = reverse("admin:campaigns_campaign_add")
CHANGELIST = reverse("admin:campaigns_campaign_changelist")


def change_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def send_url(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_send", args=[campaign.pk])


def form_data(**overrides: str) -> dict[str, str]:
    data = {"subject": "Issue #2", "preheader": "", "body": BODY, "audience": "all", "segment": ""}
    return {**data, **overrides}


def test_a_marketer_writes_a_draft_tests_it_and_sends_it(client, marketer, run_on_commit):
    subscribers("ann@example.com", "bob@example.com")
    response = client.post(ADD, form_data())
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.created_by) == (Campaign.Status.DRAFT, marketer)

    page = client.get(change_url(campaign)).content.decode()
    assert "Send a test to me" in page
    assert "Send now" in page
    assert reverse("admin:campaigns_campaign_preview", args=[campaign.pk]) in page

    with run_on_commit():
        client.post(reverse("admin:campaigns_campaign_send_test", args=[campaign.pk]))
    [test] = django_mail.outbox
    assert (test.to, test.subject) == (["mia@staff.example.com"], "[TEST] Issue #2")

    confirm = client.get(send_url(campaign)).content.decode()
    assert "Yes, send to 2 subscribers" in confirm
    assert Campaign.objects.get().status == Campaign.Status.DRAFT  # GET sends nothing
    with run_on_commit():
        response = client.post(send_url(campaign))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    sent = sorted(to for m in django_mail.outbox[1:] for to in m.to)  # one batch message
    assert sent == ["ann@example.com", "bob@example.com"]


def test_sending_needs_the_send_campaign_permission(client, settings, run_on_commit):
    settings.STAFF_REQUIRE_2FA = False
    subscribers("ann@example.com")
    writer = make_staff("wes", superuser=False)
    writer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="campaigns",
            codename__in=["view_campaign", "add_campaign", "change_campaign"],
        )
    )
    client.force_login(writer)
    campaign = make_campaign()
    page = client.get(change_url(campaign)).content.decode()
    assert "Send now" not in page
    assert client.get(send_url(campaign)).status_code == 403
    with run_on_commit():
        assert client.post(send_url(campaign)).status_code == 403
    assert Campaign.objects.get().status == Campaign.Status.DRAFT
    assert django_mail.outbox == []


def test_a_sent_campaign_is_read_only(admin_client, run_on_commit):
    subscribers("ann@example.com")
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'name="subject"' not in page
    assert "Issue #1: discovery" in page
    assert "Send now" not in page
    admin_client.post(change_url(campaign), form_data(subject="Rewritten history"))
    assert Campaign.objects.get().subject == "Issue #1: discovery"
    assert admin_client.get(send_url(campaign), follow=True).redirect_chain  # back, not a form


def test_the_campaign_page_counts_its_mails_by_status_and_skip_reason(admin_client):
    ann, bob, _ = subscribers("ann@example.com", "bob@example.com", "cyd@example.com")
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)
    services.campaign_fan_out(campaign_id=campaign.pk)  # its sends wait for a commit
    subscription_unsubscribe(subscription_id=bob.pk, actor=ACTOR)
    mail_send(mail_id=OutboundMail.objects.get(template="campaign", to_email=ann.contact.email).pk)

    page = admin_client.get(change_url(campaign)).content.decode()
    assert (
        "audience 3 · queued 1 · sent 1 · failed 0 · suppressed 0 · skipped 1 (unsubscribed 1)"
        in page
    )


def test_segment_audience_needs_a_segment(admin_client):
    response = admin_client.post(ADD, form_data(audience="segment"))
    assert response.status_code == 200
    assert "Choose the segment to send to." in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_preview_is_the_composed_mail_in_its_own_sandbox(admin_client):
    campaign = make_campaign(body="Hello <b>raw</b> and **bold**")
    response = admin_client.get(reverse("admin:campaigns_campaign_preview", args=[campaign.pk]))
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html
    assert 'style="' in html  # the inlined mail CSS
    csp = response["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in csp
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'sandbox=""' in page


def test_changelist_shows_subject_status_audience_and_counts(admin_client, run_on_commit):
    subscribers("ann@example.com")
    with run_on_commit():
        services.campaign_send(campaign=make_campaign(), actor=None)
    make_campaign(subject="Next issue")
    html = admin_client.get(CHANGELIST).content.decode()
    assert "Issue #1: discovery" in html
    assert "Next issue" in html
    assert "Sent" in html
    assert "Draft" in html
    assert "All confirmed subscribers" in html


def test_a_marketer_cannot_delete_or_touch_a_missing_campaign(client, marketer):
    campaign = make_campaign()
    delete = reverse("admin:campaigns_campaign_delete", args=[campaign.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:campaigns_campaign_send", args=[999])).status_code == 404
