"""Admin: requests and downloads lists (no N+1), the eBook files page with its rebuild button,
and a contact's requests on the contact page."""

import re

from django.contrib.admin.sites import site
from django.urls import reverse

import pytest

from config import jobs
from contacts.models import Contact
from contacts.services import Actor, Source
from ebooks import services
from ebooks.models import EbookRequest
from ebooks.services import ebook_request_create
from tests.unit.ebooks.conftest import GUIDE

pytestmark = pytest.mark.django_db

REQUESTS = reverse("admin:ebooks_ebookrequest_changelist")
DOWNLOADS = reverse("admin:ebooks_ebookdownload_changelist")
FILES = reverse("admin:ebooks_ebookfileproxy_changelist")


def add_requests(count: int, *, start: int = 0, downloads: int = 2) -> None:
    for i in range(start, start + count):
        result = ebook_request_create(
            email=f"reader{i}@example.com",
            guide_slug=GUIDE,
            source=Source(guide_slug=GUIDE, chapter_number=1 + i % 4, form_name="pdf"),
            actor=Actor(ip="203.0.113.7"),
        )
        for _ in range(downloads):
            services.ebook_download_record(request_id=result.request_id, version="v1")


@pytest.mark.parametrize("url", [REQUESTS, DOWNLOADS])
def test_lists_cost_the_same_queries_for_3_rows_as_for_30(
    admin_client, pdf_ready, url, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    add_requests(3)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    add_requests(27, start=3)
    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert "reader29@example.com" in response.content.decode()


def test_the_requests_list_shows_source_delivery_and_download_counts(admin_client, pdf_ready):
    add_requests(1, downloads=3)
    html = admin_client.get(REQUESTS).content.decode()
    assert "reader0@example.com" in html
    assert GUIDE in html
    assert '<td class="field-downloads">3</td>' in html
    assert "Queued" in html  # the delivery mail's status


def test_requests_filters_and_search(admin_client, pdf_ready):
    add_requests(4, downloads=0)
    for params in (
        {"guide_slug": GUIDE},
        {"chapter_number": "2"},
        {"form_name": "pdf"},
        {"newsletter_opt_in__exact": "0"},
        {"delivered_at__isempty": "0"},
        {"q": "reader1@"},
    ):
        response = admin_client.get(REQUESTS, params)
        assert response.status_code == 200, params
        assert "reader1@example.com" in response.content.decode(), params
    html = admin_client.get(REQUESTS, {"chapter_number": "3"}).content.decode()
    assert "reader1@example.com" not in html
    assert "reader2@example.com" in html
    html = admin_client.get(REQUESTS, {"q": "reader3@"}).content.decode()
    assert "reader0@example.com" not in html


def test_downloads_filters_and_search(admin_client, pdf_ready):
    add_requests(2, downloads=1)
    for params in (
        {"request__guide_slug": GUIDE},
        {"request__chapter_number": "1"},
        {"request__form_name": "pdf"},
        {"q": "reader0@"},
    ):
        response = admin_client.get(DOWNLOADS, params)
        assert response.status_code == 200, params
        assert "reader0@example.com" in response.content.decode(), params


def test_request_page_is_read_only_with_its_downloads(admin_client, pdf_ready):
    add_requests(1, downloads=2)
    req = EbookRequest.objects.get()
    url = reverse("admin:ebooks_ebookrequest_change", args=[req.pk])
    html = admin_client.get(url).content.decode()
    assert "Downloads through the mailed link" in html
    assert 'name="_save"' not in html
    assert admin_client.post(url, {"guide_slug": "x"}).status_code == 403
    assert admin_client.get(reverse("admin:ebooks_ebookrequest_add")).status_code == 403
    delete = reverse("admin:ebooks_ebookrequest_delete", args=[req.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert EbookRequest.objects.get().guide_slug == GUIDE


def test_deliver_again_action_goes_through_the_service(admin_client, fake_render, monkeypatch):
    published: list[int] = []
    monkeypatch.setattr(jobs, "enqueue_ebook_deliver", lambda pk: published.append(pk) or True)
    add_requests(1, downloads=0)  # a cold cache: undelivered until its task runs
    req = EbookRequest.objects.get()
    EbookRequest.objects.update(enqueue_count=9)
    response = admin_client.post(
        REQUESTS, {"action": "deliver_again", "_selected_action": [req.pk]}, follow=True
    )
    assert "Delivery queued again for 1 request" in response.content.decode()
    assert EbookRequest.objects.get().enqueue_count == 1


def test_the_files_page_shows_each_guides_current_file_and_counts(
    admin_client, pdf_ready, django_assert_max_num_queries
):
    add_requests(2, downloads=1)
    with django_assert_max_num_queries(12):
        response = admin_client.get(FILES)
    html = response.content.decode()
    assert response.status_code == 200
    assert "The Product Discovery Field Guide" in html
    assert pdf_ready.version in html
    assert "9</td>" in html  # pages, from the metadata JSON
    assert "0.50 s" in html  # render time
    assert "Not rendered yet" in html  # the other guide
    assert f'?guide_slug={GUIDE}">2</a>' in html
    assert f'?request__guide_slug={GUIDE}">2</a>' in html
    assert "Rebuild" in html


def test_the_rebuild_button_queues_a_forced_render(admin_client, ebook_storage, monkeypatch):
    published: list[tuple] = []
    monkeypatch.setattr(
        jobs, "_publish", lambda path, *args: published.append((path, args)) or True
    )
    response = admin_client.post(FILES, {"guide": GUIDE}, follow=True)
    assert "Rebuild of “product-discovery” queued" in response.content.decode()
    assert published == [("tasks.ebooks.ebook_render", (GUIDE, True))]
    response = admin_client.post(FILES, {"guide": "../etc"}, follow=True)
    assert "No guide is called that" in response.content.decode()


def test_the_files_page_has_no_change_or_delete_pages(admin_client):
    from django.urls import NoReverseMatch

    for name in ("change", "delete", "add", "history"):
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:ebooks_ebookfileproxy_{name}", args=[1] if name != "add" else [])


def test_staff_without_permission_cannot_see_or_rebuild(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(FILES).status_code == 403
    assert client.post(FILES, {"guide": GUIDE}).status_code == 403


def test_the_contact_page_lists_the_contacts_ebook_requests_without_n_plus_1(
    admin_client, pdf_ready, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    add_requests(1, downloads=2)
    contact = Contact.objects.get()
    url = reverse("admin:contacts_contact_change", args=[contact.pk])
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    for _ in range(5):
        EbookRequest.objects.create(contact=contact, guide_slug=GUIDE, form_name="home-pdf")
    with django_assert_max_num_queries(len(few)):
        html = admin_client.get(url).content.decode()
    assert "“Get the PDF” requests" in html
    assert html.count("home-pdf") >= 5
    cells = re.findall(r'class="field-downloads">\s*<p>(\d+)</p>', html)
    assert sorted(cells) == ["0"] * 5 + ["2"]
    inlines = site.get_model_admin(Contact).inlines
    assert [i.__name__ for i in inlines].count("EbookRequestInline") == 1
