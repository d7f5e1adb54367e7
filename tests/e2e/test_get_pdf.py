"""A reader asks for the PDF on a chapter page in Chromium; the mail reaches a real SMTP server
with the PDF attached and a download link; the link serves the very same PDF.

Tasks run eagerly in the live server's process (the default test settings); the eBook is
rendered once for the module by the real WeasyPrint into a private storage, so the request
finds a warm cache, as it would in production after `manage.py build_ebooks`.
"""

import io
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

from django.test import override_settings

import pytest
from axe_playwright_python.sync_playwright import Axe
from pypdf import PdfReader

from contacts.models import Subscription
from ebooks.models import EbookDownload, EbookRequest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GUIDE = "product-discovery"
CHAPTER_PAGE = f"/{GUIDE}/customer-interviews/"
ADDRESS = "reader@example.com"
FILENAME = "The Product Discovery Field Guide.pdf"


@pytest.fixture(scope="module")
def rendered_ebook(tmp_path_factory) -> Iterator[Path]:
    """The guide's eBook, rendered once by WeasyPrint into a storage of this module's own."""
    from django.conf import settings

    from ebooks.services import ebook_get_or_render

    media = tmp_path_factory.mktemp("media")
    storages = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    with override_settings(STORAGES=storages):
        ebook = ebook_get_or_render(guide_slug=GUIDE)
        yield media / ebook.name


@pytest.fixture
def site(settings, live_server, smtp_mailer, rendered_ebook):
    """The live server as SITE_URL (links in mail, the Origin check) and a real SMTP server."""
    settings.SITE_URL = live_server.url
    return live_server.url, smtp_mailer


def axe_violations(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]]


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-script", "without-script"])
def test_get_the_pdf_by_mail_and_by_link(browser, site, rendered_ebook, javascript):
    base, mailbox = site
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(base + CHAPTER_PAGE)
        box = page.locator(".pdf-box")
        assert box.get_by_role("heading", name="Get the PDF").is_visible()
        box.get_by_label("Email", exact=True).fill(ADDRESS)
        newsletter = box.get_by_role("checkbox")
        assert not newsletter.is_checked()  # a separate, unticked consent
        if javascript:  # axe runs as script in the page
            assert axe_violations(page) == []
        page.wait_for_timeout(2100)  # a person takes longer than the "too fast" bound
        box.get_by_role("button", name="Email me the PDF").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        assert "The Product Discovery Field Guide" in page.locator("main").inner_text()
        if javascript:
            assert axe_violations(page) == []

        request = EbookRequest.objects.select_related("contact").get()
        assert (request.contact.email, request.guide_slug, request.chapter_number) == (
            ADDRESS, GUIDE, 2,
        )  # fmt: skip
        assert request.page_path == CHAPTER_PAGE
        assert not Subscription.objects.exists()  # a PDF request alone subscribes no one

        [message] = mailbox.wait_for(1)
        assert message["To"] == ADDRESS
        assert "List-Unsubscribe" not in message  # transactional
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == FILENAME
        attached = attachment.get_content()
        assert attached == rendered_ebook.read_bytes()
        link = re.search(re.escape(base) + r"/s/download/[\w:-]+/", text_part(message))
        assert link, text_part(message)
        html = message.get_body(preferencelist=("html",)).get_content()
        assert link[0] in html

        response = page.request.get(link[0])
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"] == f'attachment; filename="{FILENAME}"'
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "set-cookie" not in response.headers
        downloaded = response.body()
        assert downloaded == attached
        reader = PdfReader(io.BytesIO(downloaded))
        assert downloaded.startswith(b"%PDF-")
        assert len(reader.pages) > 5
        assert "Product Discovery" in (reader.metadata.title or "")
        assert EbookDownload.objects.get().request_id == request.pk

        tampered = page.request.get(link[0][:-3] + "xx/")
        assert tampered.status == 404
        assert "This download link doesn’t work" in tampered.text()
    finally:
        context.close()
