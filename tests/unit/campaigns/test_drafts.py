"""Checking a draft in the admin: both parts of the preview, a test to staff, duplicate."""

from django.core import mail as django_mail
from django.urls import reverse

import pytest

from campaigns.models import Campaign
from mailings.models import OutboundMail
from tests.unit.accounts.conftest import make_staff
from tests.unit.campaigns.conftest import make_campaign, subscribers

pytestmark = pytest.mark.django_db


def page_of(campaign: Campaign) -> str:
    return reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])


def staff(name: str, email: str) -> None:
    user = make_staff(name, superuser=False)
    user.email = email
    user.save(update_fields=["email"])


def test_the_change_page_shows_the_text_part_as_composed(admin_client, settings):
    campaign = make_campaign(body="Hello **readers** <b>raw</b>.")
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    html = page.content.decode()
    assert "Plain-text part" in html
    assert "Hello **readers** &lt;b&gt;raw&lt;/b&gt;." in html  # the Markdown source, escaped
    assert settings.MAIL_POSTAL_ADDRESS in html  # the footer the composer adds
    assert "Subject: <strong>Issue #1: discovery</strong>" in html


def test_a_test_goes_to_each_staff_address_as_a_transactional_mail(client, marketer, run_on_commit):
    staff("tom", "Tom@Staff.example.com")
    campaign = make_campaign()
    form = client.get(page_of(campaign)).content.decode()
    assert "mia@staff.example.com" in form  # the user's own address to start with
    with run_on_commit():
        response = client.post(
            page_of(campaign),
            {"recipients": "mia@staff.example.com,\ntom@staff.example.com, mia@staff.example.com"},
        )
    assert response.status_code == 302
    assert sorted(m.to[0] for m in django_mail.outbox) == [
        "mia@staff.example.com", "tom@staff.example.com",
    ]  # fmt: skip
    assert {m.subject for m in django_mail.outbox} == {"[TEST] Issue #1: discovery"}
    categories = set(OutboundMail.objects.values_list("category", flat=True))
    assert categories == {OutboundMail.Category.TRANSACTIONAL}


@pytest.mark.parametrize(
    ("recipients", "error"),
    [
        ("mia@staff.example.com, not-an-address; x@", "Not an email address: not-an-address, x@."),
        (",".join(f"s{i}@staff.example.com" for i in range(11)), "At most 10 addresses"),
        ("  ", "This field is required."),
        ("reader@example.com", "no active staff account has reader@example.com"),
    ],
)
def test_a_bad_test_recipient_list_is_a_form_error(client, marketer, recipients, error):
    subscribers("reader@example.com")  # a subscriber is not staff: no marketing as a "test"
    campaign = make_campaign()
    response = client.post(page_of(campaign), {"recipients": recipients})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not OutboundMail.objects.filter(template="campaign").exists()


def test_duplicate_makes_a_new_draft_with_the_same_content_and_audience(
    admin_client, run_on_commit
):
    subscribers("ann@example.com")
    original = make_campaign(preheader="Five habits")
    response = admin_client.post(reverse("admin:campaigns_campaign_duplicate", args=[original.pk]))
    copy = Campaign.objects.exclude(pk=original.pk).get()
    assert response["Location"] == reverse("admin:campaigns_campaign_change", args=[copy.pk])
    fields = ("subject", "preheader", "body", "audience", "segment_id")
    assert [getattr(copy, f) for f in fields] == [getattr(original, f) for f in fields]
    assert copy.status == Campaign.Status.DRAFT
    assert (
        admin_client.get(reverse("admin:campaigns_campaign_duplicate", args=[copy.pk])).status_code
        == 405
    )
