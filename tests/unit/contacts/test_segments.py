"""Tags (bulk add/remove actions) and saved segments (segment_contacts)."""

import datetime as dt

from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

import pytest

from contacts.models import Contact, Segment, Subscription, Tag
from contacts.segments import contacts_tag_add, contacts_tag_remove, segment_contacts
from core.models import AuditEntry
from tests.unit.analytics.conftest import signup
from tests.unit.contacts.conftest import make_subscription

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")


def emails(queryset) -> list[str]:
    return sorted(queryset.values_list("email", flat=True))


@pytest.fixture
def people():
    now = timezone.now()
    a = signup("a@example.com", confirmed=True, chapter=5, when=now - dt.timedelta(days=40)).contact
    b = signup("b@example.com", confirmed=True, chapter=6).contact
    c = signup("c@example.com", chapter=5).contact
    d = signup("d@example.com", confirmed=True, guide="product-discovery", chapter=1).contact
    vip, news = Tag.objects.create(name="vip"), Tag.objects.create(name="news")
    a.tags.add(vip, news)
    b.tags.add(vip)
    c.tags.add(news)
    return {"a": a, "b": b, "c": c, "d": d, "vip": vip, "news": news}


def test_segment_by_status_guide_chapter_and_dates(people):
    segment = Segment.objects.create(name="s")
    assert emails(segment_contacts(segment)) == ["a@example.com", "b@example.com", "d@example.com"]
    segment.guide_slug, segment.chapter_number = "modern-product-management", 5
    assert emails(segment_contacts(segment)) == ["a@example.com"]
    segment.status = ""
    assert emails(segment_contacts(segment)) == ["a@example.com", "c@example.com"]
    segment.signed_up_from = timezone.now().date() - dt.timedelta(days=7)
    assert emails(segment_contacts(segment)) == ["c@example.com"]
    segment.signed_up_from, segment.signed_up_to = (
        None,
        timezone.now().date() - dt.timedelta(days=7),
    )
    assert emails(segment_contacts(segment)) == ["a@example.com"]


def test_segment_tags_any_or_all_without_duplicates(people):
    segment = Segment.objects.create(name="s", status="")
    segment.tags.set([people["vip"], people["news"]])
    found = segment_contacts(segment)
    assert emails(found) == ["a@example.com", "b@example.com", "c@example.com"]
    assert found.count() == 3  # a has both tags but appears once
    segment.tag_match = Segment.TagMatch.ALL
    assert emails(segment_contacts(segment)) == ["a@example.com"]


def test_confirmed_segments_leave_suppressed_addresses_out(people):
    from contacts.services import Actor, contact_suppress

    contact_suppress(contact_id=people["b"].pk, actor=Actor())
    Subscription.objects.filter(contact=people["b"]).update(status="confirmed")  # out of sync
    assert "b@example.com" not in emails(segment_contacts(Segment.objects.create(name="s")))


def test_segment_admin_shows_the_live_count(admin_client, people):
    segment = Segment.objects.create(
        name="Chapter 5 readers", guide_slug="modern-product-management", chapter_number=5
    )
    html = admin_client.get(reverse("admin:contacts_segment_changelist")).content.decode()
    assert "Chapter 5 readers" in html
    html = admin_client.get(
        reverse("admin:contacts_segment_change", args=[segment.pk])
    ).content.decode()
    assert "Contacts now" in html
    response = admin_client.post(
        reverse("admin:contacts_segment_add"),
        {
            "name": "VIPs",
            "description": "",
            "status": "confirmed",
            "tags": [people["vip"].pk],
            "tag_match": "any",
            "guide_slug": "",
            "chapter_number": "",
            "signed_up_from": "",
            "signed_up_to": "",
        },
    )
    assert response.status_code == 302
    assert emails(segment_contacts(Segment.objects.get(name="VIPs"))) == [
        "a@example.com",
        "b@example.com",
    ]


def test_tag_services(people):
    assert contacts_tag_add(contacts=Contact.objects.all(), tag=people["vip"]) == 2  # c, d
    assert contacts_tag_add(contacts=Contact.objects.all(), tag=people["vip"]) == 0
    assert (
        contacts_tag_remove(
            contacts=Contact.objects.filter(email__startswith="a"), tag=people["vip"]
        )
        == 1
    )
    assert emails(people["vip"].contacts.all()) == [
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ]


def test_bulk_tag_actions_with_an_intermediate_page(admin_client):
    ann = make_subscription("ann@example.com").contact
    bob = make_subscription("bob@example.com").contact
    selection = {
        "action": "add_tag",
        "_selected_action": [ann.pk, bob.pk],
        "index": "0",
        "select_across": "0",
    }
    html = admin_client.post(CHANGELIST, selection).content.decode()
    assert "Add a tag to <strong>2</strong>" in html
    assert " style=" not in html
    response = admin_client.post(CHANGELIST, {**selection, "apply": "1", "new_tag": "Webinar"})
    assert response.status_code == 302
    assert emails(Contact.objects.filter(tags__name="Webinar")) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert AuditEntry.objects.get().action == "tag"
    tag = Tag.objects.get(name="Webinar")
    removal = {
        **selection,
        "action": "remove_tag",
        "_selected_action": [ann.pk],
        "apply": "1",
        "tag": tag.pk,
    }
    admin_client.post(CHANGELIST, removal)
    assert emails(tag.contacts.all()) == ["bob@example.com"]
    # The list shows tags and filters on them.
    html = admin_client.get(CHANGELIST, {"tag": tag.pk}).content.decode()
    assert "bob@example.com" in html
    assert "ann@example.com" not in html


def test_select_across_tags_every_filtered_contact(admin_client):
    for i in range(5):
        make_subscription(f"r{i}@example.com", "confirmed")
    make_subscription("pending@example.com")
    url = CHANGELIST + "?subscription__status=confirmed"
    first = Contact.objects.filter(subscription__status="confirmed").first()
    admin_client.post(
        url,
        {
            "action": "add_tag",
            "_selected_action": [first.pk],
            "index": "0",
            "select_across": "1",
            "apply": "1",
            "new_tag": "all-confirmed",
        },
    )
    assert Tag.objects.get(name="all-confirmed").contacts.count() == 5


def test_tag_actions_need_the_tag_permission(client):
    ann = make_subscription("ann@example.com").contact
    user = User.objects.create_user("m", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(user)
    assert "add_tag" not in client.get(CHANGELIST).content.decode()
    client.post(
        CHANGELIST,
        {
            "action": "add_tag",
            "_selected_action": [ann.pk],
            "index": "0",
            "apply": "1",
            "new_tag": "x",
        },
    )
    assert not Tag.objects.exists()


def test_list_query_count_is_independent_of_page_size(admin_client, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from contacts.admin import ContactAdmin

    tag = Tag.objects.create(name="t")
    for i in range(24):
        make_subscription(f"r{i}@example.com", "confirmed").contact.tags.add(tag)
    counts = []
    for size in (4, 24):
        monkeypatch.setattr(ContactAdmin, "list_per_page", size)
        with CaptureQueriesContext(connection) as queries:
            html = admin_client.get(CHANGELIST).content.decode()
        counts.append(len(queries))
        assert html.count('name="_selected_action"') == size
    assert counts[0] == counts[1]


def test_empty_states(admin_client):
    html = admin_client.get(CHANGELIST).content.decode()
    assert "No contacts yet." in html
    assert "import a CSV file" in html
    make_subscription("ann@example.com")
    html = admin_client.get(CHANGELIST, {"q": "nobody"}).content.decode()
    assert "No contacts match these filters" in html
