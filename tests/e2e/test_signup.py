"""A reader signs up in Chromium; the mail reaches a real SMTP server; confirm; unsubscribe.

sign up on a page -> confirmation mail arrives at aiosmtpd -> open its link -> press the
button -> count label rises and the welcome mail arrives -> RFC 8058 one-click POST from
its List-Unsubscribe header (no cookies) -> unsubscribed.
"""

import re
from email.message import EmailMessage

import pytest
from axe_playwright_python.sync_playwright import Axe

from contacts.models import ConsentEvent, Subscription

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHAPTER_PAGE = "/modern-product-management/roadmaps/"
SIGNUP_PAGE = "/s/subscribe/"
ADDRESS = "reader@example.com"


def axe_violations(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"]]


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def site(settings, live_server, smtp_mailer):
    """The live server as SITE_URL (links in mail, the Origin check) and a real SMTP server."""
    settings.SITE_URL = live_server.url
    return live_server.url, smtp_mailer


@pytest.mark.parametrize(
    ("path", "javascript"),
    [(CHAPTER_PAGE, True), (SIGNUP_PAGE, False)],
    ids=["chapter-page-with-script", "signup-page-without-script"],
)
def test_signup_confirm_and_one_click_unsubscribe(browser, site, path, javascript):
    base, mailbox = site
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(base + path)
        box = page.locator("[data-signup-box]").first
        assert "Join" not in box.locator("h2").inner_text()  # nobody confirmed yet
        box.get_by_label("Email", exact=True).fill(ADDRESS)
        consent = box.get_by_role("checkbox")
        assert not consent.is_checked()
        consent.check()
        if javascript:  # axe runs as script in the page
            assert axe_violations(page) == []
        page.wait_for_timeout(2100)  # a person takes longer than the "too fast" bound
        box.get_by_role("button", name="Subscribe").click()
        page.get_by_text("Check your inbox").first.wait_for()
        if javascript:
            assert page.url == base + path  # answered in place
        sub = Subscription.objects.select_related("contact").get()
        assert (sub.status, sub.contact.email) == (Subscription.Status.PENDING, ADDRESS)
        if path == CHAPTER_PAGE:
            assert (sub.guide_slug, sub.chapter_number) == ("modern-product-management", 5)
            assert sub.page_path == CHAPTER_PAGE

        [confirmation] = mailbox.wait_for(1)
        assert confirmation["To"] == ADDRESS
        assert "List-Unsubscribe" not in confirmation  # transactional
        link = re.search(re.escape(base) + r"/s/confirm/\S+/", text_part(confirmation))
        assert link, text_part(confirmation)

        page.goto(link[0])
        assert Subscription.objects.get().status == Subscription.Status.PENDING  # GET did nothing
        if javascript:
            assert axe_violations(page) == []
        page.get_by_role("button", name="Yes, subscribe me").click()
        page.get_by_role("heading", name="You’re subscribed").wait_for()
        assert Subscription.objects.get().status == Subscription.Status.CONFIRMED

        page.goto(base + path)
        page.reload()  # revalidate: the page cache key follows the count label
        assert "Join 1 " in page.locator("[data-signup-box] h2").first.inner_text()

        messages = mailbox.wait_for(2)
        assert len(messages) == 2
        welcome = messages[1]
        assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe_url = welcome["List-Unsubscribe"].strip("<>")
        assert unsubscribe_url.startswith(base + "/s/unsubscribe/")
        assert unsubscribe_url in text_part(welcome)

        context.clear_cookies()
        response = page.request.post(
            unsubscribe_url, form={"List-Unsubscribe": "One-Click"}, max_redirects=0
        )
        assert response.status == 200
        assert "set-cookie" not in response.headers
        assert Subscription.objects.get().status == Subscription.Status.UNSUBSCRIBED
        assert ConsentEvent.objects.get(event="unsubscribe").detail == "one-click"
        events = list(ConsentEvent.objects.values_list("event", flat=True))
        assert events == ["signup", "confirm", "unsubscribe"]
    finally:
        context.close()
