"""GDPR: the JSON export of everything held on a contact, and erasure that keeps a hash."""

import json

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

import pytest

from contacts import gdpr
from contacts.models import ConsentEvent, Contact, Subscription, Tag
from contacts.services import SignupOutcome
from core.models import AuditEntry
from mailings.models import OutboundMail, Suppression, email_hash
from tests.unit.analytics.conftest import ebook_model
from tests.unit.contacts.conftest import make_subscription, subscribe

pytestmark = pytest.mark.django_db

EMAIL = "ann@example.com"


@pytest.fixture
def ann(run_on_commit):
    with run_on_commit():
        sub = make_subscription(EMAIL, "confirmed")
    contact = sub.contact
    contact.tags.add(Tag.objects.create(name="vip"))
    model = ebook_model()
    request = model.objects.create(
        contact=contact,
        guide_slug="modern-product-management",
        chapter_number=5,
        form_name="pdf",
        ip="198.51.100.4",
    )
    download_model = type(request).downloads.rel.related_model
    download_model.objects.create(request=request, version="v1")
    return contact


def urls(contact):
    return (
        reverse("admin:contacts_contact_gdpr_export", args=[contact.pk]),
        reverse("admin:contacts_contact_erase", args=[contact.pk]),
    )


def test_export_holds_everything(admin_client, ann):
    export_url, _ = urls(ann)
    response = admin_client.get(export_url)
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["contact"]["email"] == EMAIL
    assert data["contact"]["tags"] == ["vip"]
    assert data["subscription"]["status"] == "confirmed"
    assert data["subscription"]["guide_slug"] == "modern-product-management"
    assert [e["event"] for e in data["consent_events"]] == ["signup", "confirm"]
    assert data["consent_events"][0]["ip"] == "203.0.113.7"
    templates = sorted(m["template"] for m in data["mails"])
    assert templates == ["confirm_subscription", "welcome"]
    confirm = next(m for m in data["mails"] if m["template"] == "confirm_subscription")
    assert confirm["context"]["confirm_url"] == "(signed link omitted)"
    assert "unsubscribe_url" not in confirm
    assert data["ebook_requests"][0]["ip"] == "198.51.100.4"
    assert data["ebook_requests"][0]["downloads"][0]["version"] == "v1"
    assert data["suppression"] is None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_repr) == ("gdpr_export", f"contact #{ann.pk}")
    assert EMAIL not in json.dumps(entry.detail)


def test_change_page_offers_both_buttons(admin_client, ann):
    html = admin_client.get(
        reverse("admin:contacts_contact_change", args=[ann.pk])
    ).content.decode()
    export_url, erase_url = urls(ann)
    assert export_url in html
    assert erase_url in html


def test_erase_needs_a_confirmation_post(admin_client, ann):
    _, erase_url = urls(ann)
    html = admin_client.get(erase_url).content.decode()
    assert "cannot be undone" in html
    assert "2 events" in html
    assert Contact.objects.filter(pk=ann.pk).exists()
    response = admin_client.post(erase_url)
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=ann.pk).exists()
    # A second POST (a reload) finds nothing and says so.
    assert admin_client.post(erase_url, follow=True).status_code == 200


def test_erase_removes_personal_data_and_keeps_a_hash(admin_user, ann, run_on_commit):
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(ann.pk),
        object_repr=EMAIL,
        action_flag=CHANGE,
        change_message="x",
    )
    queued = OutboundMail.objects.create(
        to_email=EMAIL, template="welcome", category="marketing", context={"name": "Ann"}
    )
    notice = OutboundMail.objects.create(
        to_email=EMAIL, template="test_notice", category="transactional", context={}
    )
    detail = gdpr.contact_erase(contact_id=ann.pk, actor=admin_user)

    assert not Contact.objects.exists()
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert not ebook_model().objects.exists()
    assert Tag.objects.filter(name="vip").exists()  # the tag itself is not personal data
    assert not OutboundMail.objects.filter(to_email__iexact=EMAIL).exists()
    queued.refresh_from_db()
    assert (queued.status, queued.skip_reason, queued.to_email, queued.context) == (
        "skipped",
        "erased",
        "",
        {},
    )
    notice.refresh_from_db()
    assert (notice.status, notice.to_email) == ("suppressed", "")
    assert detail["mails_cancelled"] == 2
    assert OutboundMail.objects.filter(status="sent", to_email="").count() == 2
    suppression = Suppression.objects.get()
    assert (suppression.email_hash, suppression.reason) == (email_hash(EMAIL), "erased")
    assert LogEntry.objects.get().object_repr == f"erased contact #{ann.pk}"
    entry = AuditEntry.objects.get()
    assert entry.action == "gdpr_erase"
    assert entry.detail == detail
    assert "ann" not in json.dumps(entry.detail) + entry.object_repr
    assert detail["deleted"]["contacts.ConsentEvent"] == 2

    # The address is never mailed again, even after a fresh signup.
    mails_before = OutboundMail.objects.count()
    with run_on_commit():
        assert subscribe(EMAIL) == SignupOutcome.BLOCKED
        assert subscribe("ANN@example.com") == SignupOutcome.BLOCKED
    assert not Contact.objects.exists()
    assert OutboundMail.objects.count() == mails_before


def test_an_erased_address_gets_no_ebook_either(admin_user, ann):
    from contacts.services import Actor, Source
    from ebooks import services as ebook_services

    gdpr.contact_erase(contact_id=ann.pk, actor=admin_user)
    result = ebook_services.ebook_request_create(
        email=EMAIL,
        guide_slug="modern-product-management",
        source=Source(guide_slug="modern-product-management"),
        actor=Actor(),
    )
    assert result.request_id is None
    assert not Contact.objects.exists()


def test_gdpr_pages_need_their_permissions(client, ann):
    export_url, erase_url = urls(ann)
    user = User.objects.create_user("m", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(user)
    assert client.get(export_url).status_code == 403
    assert client.get(erase_url).status_code == 403
    assert client.post(erase_url).status_code == 403
    html = client.get(reverse("admin:contacts_contact_change", args=[ann.pk])).content.decode()
    assert export_url not in html
    assert erase_url not in html
    assert Contact.objects.exists()
    assert not AuditEntry.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="gdpr_export_contact"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(export_url).status_code == 200
    assert client.post(erase_url).status_code == 403
