"""No enumeration, no PII in logs or URLs: the whole visitor journey, watched end to end.

Signup, confirm, welcome, unsubscribe, "Get the PDF" (with the newsletter box), download, and
the error paths around them (tampered, expired and foreign tokens, wrong methods, cross-site
and over-limit posts, oversized bodies, bad addresses, failed staff sign-ins) run with every
log record captured at DEBUG and every mail sent (eagerly, through Anymail's test backend).
Then: no log line holds an address or a token; no URL we produce (Location headers, links
and resources in pages, links in mails) holds an address; a token appears only in a page's
URL for itself (its form action, canonical link) and in the mail that delivers it; token
payloads are bare ids.
"""

import base64
import html
import logging
import re
import time
from unittest import mock
from urllib.parse import unquote, urlsplit

from django.core import mail
from django.test import Client
from django.urls import reverse

import pytest

from tests.unit.contacts.conftest import signup_data
from tests.unit.ebooks.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    ebook_storage,
    fake_render,
    pdf_data,
    pdf_ready,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pdf_ready")]

ORIGIN = {"Origin": "http://testserver"}
READER = "secret.reader+news@example.com"
PDF_READER = "pdf.person@example.org"
STAFF = "staff.person@example.net"  # an address typed as a username at the admin login
ADDRESSES = (READER, PDF_READER, STAFF)
#: Any address-looking string (a masked "s***@example.com" does not match).
ANY_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TOKEN_PATH = re.compile(r"/s/(?:confirm|unsubscribe|download)/([^/\s\"'<>]+)/")
URL_ATTRIBUTE = re.compile(r"""\b(href|src|action|content)=["']([^"']*)["']""")


class Journey:
    """Runs requests and remembers every response, mail and token seen."""

    def __init__(self, run_on_commit) -> None:
        self.client = Client(raise_request_exception=False)
        self.run_on_commit = run_on_commit
        self.responses: list[tuple[str, object]] = []
        self.tokens: set[str] = set()

    def __call__(self, method: str, path: str, data=None, **extra):
        with self.run_on_commit():
            response = getattr(self.client, method)(path, data, **extra)
        assert response.status_code < 500, (method, path, response.status_code)
        self.responses.append((path, response))
        self.tokens.update(TOKEN_PATH.findall(path))
        return response

    def link_from_last_mail(self, kind: str) -> str:
        body = mail.outbox[-1].body
        match = re.search(rf"http://testserver(/s/{kind}/[^/\s]+/)", body)
        assert match, body
        self.tokens.update(TOKEN_PATH.findall(match.group(1)))
        return match.group(1)


def walk(journey: Journey, settings) -> None:
    settings.PUBLIC_FORM_RATE_LIMIT = 50
    j = journey
    # Signup -> confirmation mail -> confirm page -> confirm -> welcome mail.
    assert j("post", "/s/subscribe/", signup_data(READER), headers=ORIGIN).status_code == 200
    confirm = j.link_from_last_mail("confirm")
    assert j("get", confirm).status_code == 200
    assert j("post", confirm, headers=ORIGIN).status_code == 200
    unsubscribe = j.link_from_last_mail("unsubscribe")
    # The same signup again (already confirmed): the same answer, nothing logged about it.
    assert j("post", "/s/subscribe/", signup_data(READER), headers=ORIGIN).status_code == 200
    # Unsubscribe page, then one-click.
    assert j("get", unsubscribe).status_code == 200
    one_click = "List-Unsubscribe=One-Click"
    form = "application/x-www-form-urlencoded"
    assert j("post", unsubscribe, one_click, content_type=form).status_code == 200
    # "Get the PDF" with the newsletter box -> delivery mail -> download.
    data = pdf_data(PDF_READER, newsletter="on")
    assert j("post", "/s/ebook/", data, headers=ORIGIN).status_code == 200
    mails = {m.subject: m for m in mail.outbox}
    delivery = next(m for m in mail.outbox if "/s/download/" in m.body)
    download = TOKEN_PATH.search(delivery.body)
    assert download
    download_path = f"/s/download/{download.group(1)}/"
    j.tokens.add(download.group(1))
    assert j("get", download_path).status_code == 200
    assert j("head", download_path).status_code == 200
    assert mails

    # Error paths, each with an address or a token in play.
    token = confirm.split("/")[3]
    tampered = confirm.replace(token, token[:-2] + "zz")
    for method in ("get", "post"):
        j(method, tampered, headers=ORIGIN)
    j("put", unsubscribe)
    j("delete", confirm)
    j("get", confirm + "resend/")
    j("post", confirm, headers={"Origin": "https://evil.example"})
    j("post", "/s/subscribe/", signup_data(READER), headers={"Origin": "https://evil.example"})
    j("post", "/s/subscribe/", signup_data(f"Name <{READER}>"), headers=ORIGIN)
    j("post", "/s/ebook/", pdf_data(f"{PDF_READER}\r\nBcc: x@example.com"), headers=ORIGIN)
    big = {"pad": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), "email": READER}
    j("post", unsubscribe, big, headers=ORIGIN)
    j("post", confirm, big, headers=ORIGIN)
    j("post", "/s/subscribe/", {**signup_data(READER), **big}, headers=ORIGIN)
    j("get", download_path.replace(download.group(1), download.group(1)[:-3]))
    j("get", unsubscribe.replace("/s/unsubscribe/", "/s/download/"))
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 30 * 86400):
        from contacts import services
        from contacts.models import Subscription

        sub = Subscription.objects.get(contact__email=READER)
        services.subscription_unsubscribe(subscription_id=sub.pk, actor=services.Actor())
        old = reverse("contacts:confirm", args=[services.confirm_token_make(subscription=sub)])
    j.tokens.update(TOKEN_PATH.findall(old))
    j("get", old)
    j("post", old + "resend/", headers=ORIGIN)
    settings.PUBLIC_FORM_RATE_LIMIT = 1
    for _ in range(2):
        j("post", "/s/subscribe/", signup_data(READER), headers=ORIGIN, REMOTE_ADDR="192.0.2.9")
    for _ in range(3):
        j("post", "/admin/login/", {"username": STAFF, "password": f"pw-{READER}"})


@pytest.fixture
def journey(django_capture_on_commit_callbacks) -> Journey:
    return Journey(lambda: django_capture_on_commit_callbacks(execute=True))


def test_no_log_line_holds_an_address_or_a_token(settings, caplog, journey):
    settings.LOGIN_FAILURE_LIMIT = 2
    with caplog.at_level(logging.DEBUG):
        walk(journey, settings)
    assert len(journey.tokens) >= 4
    assert len(caplog.records) > 5  # the journey did log (requests, services, mail)
    formatter = logging.Formatter()
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        if record.stack_info:
            text += record.stack_info
        where = f"{record.name}: {text[:200]!r}"
        assert not ANY_ADDRESS.search(text), where
        for address in ADDRESSES:
            assert address.split("@")[0] not in text, where
        for token in journey.tokens:
            assert token not in text, where
            assert token[:12] not in text, where
        for prefix in ("/s/confirm/", "/s/unsubscribe/", "/s/download/"):
            assert prefix not in text, where


def test_no_url_we_produce_holds_an_address_and_tokens_stay_on_their_own_page(settings, journey):
    walk(journey, settings)
    for path, response in journey.responses:
        urls = []
        if response.has_header("Location"):
            location = response["Location"]
            assert not [t for t in journey.tokens if t in location], (path, location)
            urls.append(location)
        if "html" in response.get("Content-Type", "") and not response.streaming:
            page = response.content.decode()
            urls += [html.unescape(value) for _, value in URL_ATTRIBUTE.findall(page)]
        for url in urls:
            plain = unquote(url)
            assert not ANY_ADDRESS.search(plain), (path, url)
            if [t for t in journey.tokens if t in plain]:
                # Only the page's own URL (form action, canonical/og:url) or its resend action.
                own = urlsplit(plain).path
                assert own.startswith(path) or path.startswith(own), (path, url)
                assert urlsplit(plain).netloc in {"", "testserver"}, (path, url)


def test_mails_carry_no_address_in_any_link_and_tokens_carry_only_ids(settings, journey):
    walk(journey, settings)
    assert len(mail.outbox) >= 3
    for message in mail.outbox:
        bodies = [message.body, *(content for content, _ in getattr(message, "alternatives", []))]
        headers = [str(value) for key, value in message.extra_headers.items() if "List" in key]
        for text in [*bodies, *headers]:
            for url in re.findall(r"https?://[^\s\"'<>]+", html.unescape(str(text))):
                assert not ANY_ADDRESS.search(unquote(url)), url
    for token in journey.tokens:
        payload = token.split(":")[0]
        try:
            decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except ValueError:
            continue  # a mangled token from the error paths
        assert b"@" not in decoded, token
        assert re.fullmatch(rb'"?[0-9.]+"?', decoded) or not decoded.isascii(), decoded


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe", "download"])
def test_token_pages_send_no_referrer_and_are_never_stored(journey, settings, kind):
    walk(journey, settings)
    pages = [
        response
        for path, response in journey.responses
        if path.startswith(f"/s/{kind}/") and response.status_code == 200
    ]
    assert pages
    for response in pages:
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
