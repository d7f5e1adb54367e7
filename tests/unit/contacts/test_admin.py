"""Admin: list, search, filters, read-only contact page with consent history and mails, actions."""

from django.contrib.admin.sites import site
from django.urls import reverse
from django.utils import timezone

import pytest

from contacts import services
from contacts.admin import ContactAdmin
from contacts.models import ConsentEvent, Contact, Subscription
from mailings.models import OutboundMail, Suppression
from tests.unit.contacts.conftest import ACTOR, age_cooldown, make_subscription

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")


def run_action(admin_client, action: str, *contacts: Contact):
    return admin_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in contacts]},
        follow=True,
    )


def test_changelist_shows_status_source_and_dates(admin_client):
    make_subscription("ann@example.com", "confirmed")
    make_subscription("bob@example.com")
    html = admin_client.get(CHANGELIST).content.decode()
    assert "ann@example.com" in html
    assert "bob@example.com" in html
    assert "Confirmed" in html
    assert "Pending confirmation" in html
    assert "modern-product-management" in html


def test_search_and_filters(admin_client):
    make_subscription("ann@example.com", "confirmed")
    make_subscription("bob@example.com")
    html = admin_client.get(CHANGELIST, {"q": "bob@"}).content.decode()
    assert "bob@example.com" in html
    assert "ann@example.com" not in html
    html = admin_client.get(CHANGELIST, {"subscription__status": "confirmed"}).content.decode()
    assert "ann@example.com" in html
    assert "bob@example.com" not in html
    for params in (
        {"subscription__guide_slug": "modern-product-management"},
        {"subscription__chapter_number": "5"},
        {"subscription__form_name": "inline"},
        {"created_at__year": str(timezone.now().year)},
    ):
        response = admin_client.get(CHANGELIST, params)
        assert response.status_code == 200, params
        assert "ann@example.com" in response.content.decode()


def test_changelist_query_count_does_not_grow_with_rows(admin_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_subscription("a0@example.com")
    with CaptureQueriesContext(connection) as few:
        admin_client.get(CHANGELIST)
    for i in range(1, 15):
        make_subscription(f"a{i}@example.com", "confirmed")
    with CaptureQueriesContext(connection) as many:
        admin_client.get(CHANGELIST)
    assert len(many) == len(few)


def test_contact_page_shows_consent_history_and_mails_read_only(admin_client):
    sub = make_subscription("ann@example.com", "confirmed")
    url = reverse("admin:contacts_contact_change", args=[sub.contact_id])
    html = admin_client.get(url).content.decode()
    assert "Consent history" in html
    assert "Signed up" in html
    assert "Confirmed" in html
    assert "Mails to this address" in html
    assert "confirm_subscription" in html
    assert "welcome" in html
    assert 'name="_save"' not in html  # nothing to edit
    assert admin_client.post(url, {"email": "x@example.com"}).status_code == 403
    assert Contact.objects.get().email == "ann@example.com"
    # The welcome mail was still queued (this test never commits): skipped, with the reason.
    services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR)
    assert "Skipped (Unsubscribed)" in admin_client.get(url).content.decode()


def test_contacts_cannot_be_added_or_deleted_in_the_admin(admin_client):
    sub = make_subscription()
    assert admin_client.get(reverse("admin:contacts_contact_add")).status_code == 403
    delete = reverse("admin:contacts_contact_delete", args=[sub.contact_id])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in ContactAdmin(Contact, site).get_actions(
        admin_client.get(CHANGELIST).wsgi_request
    )


def test_consent_ledger_is_never_editable_or_deletable_in_the_admin(admin_client):
    make_subscription()
    event = ConsentEvent.objects.get()
    assert admin_client.get(reverse("admin:contacts_consentevent_add")).status_code == 403
    change = reverse("admin:contacts_consentevent_change", args=[event.pk])
    assert admin_client.get(change).status_code == 200  # viewable
    assert admin_client.post(change, {"detail": "forged"}).status_code == 403
    delete = reverse("admin:contacts_consentevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert ConsentEvent.objects.get().detail == ""


def test_action_unsubscribe_goes_through_the_service(admin_client):
    sub = make_subscription("ann@example.com", "confirmed")
    response = run_action(admin_client, "unsubscribe", sub.contact)
    assert "done for 1 contact" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.UNSUBSCRIBED
    event = ConsentEvent.objects.get(event="unsubscribe")
    assert event.detail == "admin admin: Unsubscribe"


def test_action_resend_respects_the_cooldown(admin_client):
    sub = make_subscription("ann@example.com")
    response = run_action(admin_client, "resend_confirmation", sub.contact)
    assert "nothing to do for 1" in response.content.decode()
    assert OutboundMail.objects.filter(template="confirm_subscription").count() == 1
    age_cooldown(sub)
    run_action(admin_client, "resend_confirmation", sub.contact)
    assert OutboundMail.objects.filter(template="confirm_subscription").count() == 2


def test_action_suppress_and_lift(admin_client):
    sub = make_subscription("ann@example.com", "confirmed")
    run_action(admin_client, "suppress", sub.contact)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.SUPPRESSED
    assert Suppression.objects.filter(reason="manual").count() == 1
    run_action(admin_client, "lift_suppression", sub.contact)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.CONFIRMED
    assert not Suppression.objects.exists()
    assert ConsentEvent.objects.filter(event="admin").count() == 2
