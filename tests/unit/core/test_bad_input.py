"""Bad input on EVERY public endpoint: a clear 4xx answer, no side effect, never a 500.

The endpoints are named by URL name: the two public forms (`contacts:subscribe`,
`ebooks:request`) and the four token links (`contacts:confirm`, `contacts:confirm_resend`,
`contacts:unsubscribe`, `ebooks:download`). Per-endpoint details live beside each app's views
(tests/unit/contacts/test_views.py, tests/unit/ebooks/test_requests.py and test_download.py)
and the address rules in test_emailaddr.py; this module holds the cross-endpoint matrix:
every form x every hostile address, oversized bodies, too many fields, every method, every
token mangling on every link, per-IP rate limits at volume, and one inbox targeted from many
IPs.
"""

import html
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

import pytest

from contacts import services as contact_services
from contacts.models import ConsentEvent, Contact, Subscription
from core import emailaddr
from core.publicforms import form_stamp_make
from ebooks import services as ebook_services
from ebooks.models import EbookDownload, EbookRequest
from mailings.models import OutboundMail, Suppression
from tests.unit.contacts.conftest import make_subscription, signup_data
from tests.unit.ebooks.conftest import (  # noqa: F401 - fixtures, found by pytest by name
    ebook_storage,
    fake_render,
    pdf_data,
    pdf_ready,
)

#: Every test has a warm eBook cache (a fake PDF in a private storage): no WeasyPrint here.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("pdf_ready")]

ORIGIN = {"Origin": "http://testserver"}


@pytest.fixture
def client() -> Client:
    """A client that returns 500 pages instead of raising, so a 500 fails the assertion."""
    return Client(raise_request_exception=False)


def snapshot() -> dict[str, Any]:
    """Everything a public request could change."""
    return {
        "contacts": Contact.objects.count(),
        "subscriptions": list(Subscription.objects.order_by("pk").values()),
        "consent": ConsentEvent.objects.count(),
        "mails": OutboundMail.objects.count(),
        "ebook requests": EbookRequest.objects.count(),
        "downloads": EbookDownload.objects.count(),
        "suppressions": Suppression.objects.count(),
    }


@dataclass(frozen=True)
class Form:
    url_name: str
    data: Callable[..., dict[str, str]]

    @property
    def url(self) -> str:
        return reverse(self.url_name)


FORMS = {
    "signup": Form("contacts:subscribe", signup_data),
    "ebook": Form("ebooks:request", pdf_data),
}


@pytest.fixture(params=FORMS.values(), ids=FORMS.keys())
def form(request) -> Form:
    return request.param


def text_of(response) -> str:
    return html.unescape(response.content.decode())


# -- Hostile addresses on every form ------------------------------------------------------------

LONG_DOMAIN = ".".join(["d" * 60] * 4) + ".com"  # 247 characters of valid labels
BAD_ADDRESSES = {
    "CRLF header injection": ("ann@example.com\r\nBcc: victim@example.net", emailaddr.MSG_CONTROL),
    "LF injection": ("ann@example.com\nTo: victim@example.net", emailaddr.MSG_CONTROL),
    "CR injection": ("ann@example.com\rX-Injected: 1", emailaddr.MSG_CONTROL),
    "NUL": ("ann@exam\x00ple.com", emailaddr.MSG_CONTROL),
    "comma list": ("ann@example.com, bob@example.com", emailaddr.MSG_ONE),
    "semicolon list": ("ann@example.com;bob@example.com", emailaddr.MSG_ONE),
    "space list": ("ann@example.com bob@example.com", emailaddr.MSG_ONE),
    "display name": ("Ann <ann@example.com>", emailaddr.MSG_NAME),
    "quoted display name": ('"Ann, Smith" <ann@example.com>', emailaddr.MSG_NAME),
    "angle brackets": ("<ann@example.com>", emailaddr.MSG_NAME),
    "comment": ("ann@example.com (Ann)", emailaddr.MSG_NAME),
    "localhost": ("ann@localhost", emailaddr.MSG_DOMAIN_PRIVATE),
    "local tld": ("ann@printer.local", emailaddr.MSG_DOMAIN_PRIVATE),
    "IPv4 literal": ("ann@[127.0.0.1]", emailaddr.MSG_DOMAIN_PRIVATE),
    "IPv6 literal": ("ann@[IPv6:::1]", emailaddr.MSG_DOMAIN_PRIVATE),
    "bare IP": ("ann@192.168.0.1", emailaddr.MSG_DOMAIN_PRIVATE),
    "long local part": ("a" * 65 + "@example.com", emailaddr.MSG_LOCAL_LONG),
    "long label": ("ann@" + "a" * 64 + ".com", emailaddr.MSG_DOMAIN_BAD),
    "long address": ("a" * 10 + "@" + LONG_DOMAIN, emailaddr.MSG_TOO_LONG),
    "huge input": ("a" * 100_000 + "@example.com", emailaddr.MSG_TOO_LONG),
    "unicode local part": ("jörg@example.de", emailaddr.MSG_LOCAL_UNICODE),
    "homoglyph local part": ("\u0430nn@example.com", emailaddr.MSG_LOCAL_UNICODE),
    "zero-width space": ("ann\u200b@example.com", emailaddr.MSG_INVISIBLE),
    "zero-width joiner in domain": ("ann@exa\u200dmple.com", emailaddr.MSG_INVISIBLE),
    "RTL override": ("\u202eann@example.com", emailaddr.MSG_INVISIBLE),
    "RTL mark": ("ann\u200f@example.com", emailaddr.MSG_INVISIBLE),
    "BOM": ("\ufeffann@example.com", emailaddr.MSG_INVISIBLE),
}


@pytest.mark.parametrize(("address", "message"), BAD_ADDRESSES.values(), ids=BAD_ADDRESSES.keys())
def test_every_form_refuses_hostile_addresses_with_a_400_and_no_side_effect(
    client, form, address, message
):
    before = snapshot()
    response = client.post(form.url, form.data(address), headers=ORIGIN)
    assert response.status_code == 400
    page = text_of(response)
    assert message in page
    assert 'aria-invalid="true"' in page
    assert snapshot() == before


# -- Oversized bodies, too many fields ---------------------------------------------------------


def oversized(form: Form) -> dict[str, str]:
    pad = "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    return {**form.data("ann@example.com"), "pad": pad}


def test_every_form_answers_an_oversized_urlencoded_body_with_400(client, form):
    before = snapshot()
    response = client.post(form.url, oversized(form), headers=ORIGIN)
    assert response.status_code in {400, 413}
    assert snapshot() == before


def test_every_form_answers_an_oversized_multipart_field_with_400(client, form):
    before = snapshot()
    response = client.generic(
        "POST",
        form.url,
        _multipart(oversized(form)),
        content_type="multipart/form-data; boundary=BoUnDaRy",
        headers=ORIGIN,
    )
    assert response.status_code in {400, 413}
    assert snapshot() == before


def _multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--BoUnDaRy\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + "--BoUnDaRy--\r\n").encode()


def test_every_form_answers_too_many_fields_with_400(client, form):
    before = snapshot()
    data = form.data("ann@example.com")
    data.update({f"f{i}": "1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)})
    response = client.post(form.url, data, headers=ORIGIN)
    assert response.status_code == 400
    assert snapshot() == before


def test_every_form_page_survives_a_query_string_with_too_many_fields(client, form):
    query = "&".join(f"f{i}=1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.get(f"{form.url}?{query}")
    assert response.status_code in {200, 400}


def test_a_huge_declared_length_is_refused_before_the_body_is_read(client, form):
    response = client.generic(
        "POST",
        form.url,
        b"email=ann%40example.com",
        content_type="application/x-www-form-urlencoded",
        headers=ORIGIN,
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert response.status_code in {400, 413}


# -- Every method on every endpoint -------------------------------------------------------------


@pytest.fixture
def links() -> dict[str, str]:
    """One working link of each kind (a pending signup, a PDF request)."""
    sub = make_subscription("linked@example.com")
    result = ebook_services.ebook_request_create(
        email="linked@example.com", guide_slug="product-discovery",
        source=contact_services.Source(), actor=contact_services.Actor(),
    )  # fmt: skip
    confirm = contact_services.confirm_token_make(subscription=sub)
    return {
        "contacts:confirm": reverse("contacts:confirm", args=[confirm]),
        "contacts:confirm_resend": reverse("contacts:confirm_resend", args=[confirm]),
        "contacts:unsubscribe": reverse(
            "contacts:unsubscribe",
            args=[contact_services.unsubscribe_token_make(subscription_id=sub.pk)],
        ),
        "ebooks:download": reverse(
            "ebooks:download",
            args=[ebook_services.ebook_download_token(request_id=result.request_id)],
        ),
    }


#: url name -> the methods it serves (every other method is a 405).
SERVED = {
    "contacts:subscribe": {"GET", "HEAD", "POST"},
    "ebooks:request": {"GET", "HEAD", "POST"},
    "contacts:confirm": {"GET", "HEAD", "POST"},
    "contacts:confirm_resend": {"POST"},
    "contacts:unsubscribe": {"GET", "HEAD", "POST"},
    "ebooks:download": {"GET", "HEAD"},
}
METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


@pytest.mark.parametrize("url_name", SERVED)
@pytest.mark.parametrize("method", METHODS)
def test_no_method_but_post_changes_anything_and_others_are_405(client, links, url_name, method):
    url = links.get(url_name) or reverse(url_name)
    before = snapshot()
    response = client.generic(method, url, headers=ORIGIN)
    if method in SERVED[url_name]:
        assert response.status_code == 200
    else:
        assert response.status_code == 405
        assert set(response["Allow"].replace(" ", "").split(",")) == SERVED[url_name]
    after = snapshot()
    if url_name == "ebooks:download" and method == "GET":
        # A download is recorded (attribution), and nothing else changes.
        assert after.pop("downloads") == before.pop("downloads") + 1
    assert after == before


# -- Every token mangling on every link ---------------------------------------------------------

LINKS = ["contacts:confirm", "contacts:confirm_resend", "contacts:unsubscribe", "ebooks:download"]


def mangled_tokens(sub: Subscription, request_id: int) -> dict[str, str]:
    confirm = contact_services.confirm_token_make(subscription=sub)
    unsubscribe = contact_services.unsubscribe_token_make(subscription_id=sub.pk)
    download = ebook_services.ebook_download_token(request_id=request_id)
    flip = {"A": "B"}
    return {
        "tampered signature": confirm[:-1] + flip.get(confirm[-1], "A"),
        "tampered payload": "X" + confirm[1:],
        "truncated": confirm[: len(confirm) // 2],
        "truncated signature": download[:-6],
        "no signature": confirm.split(":")[0],
        "confirm token": confirm,
        "unsubscribe token": unsubscribe,
        "download token": download,
        "form stamp": form_stamp_make("newsletter"),
        "another site's key": _token_with_key("another-secret-key-" + "z" * 40, unsubscribe),
        "junk": "not-a-token",
    }


def _token_with_key(key: str, like: str) -> str:
    from django.core import signing

    value = signing.loads(like, salt="chapterhouse." + contact_services.UNSUBSCRIBE_PURPOSE)
    salt = "chapterhouse." + contact_services.UNSUBSCRIBE_PURPOSE
    return signing.dumps(value, key=key, salt=salt)


#: (link, token kind) pairs whose token is genuine for that link (tested elsewhere).
GENUINE = {
    ("contacts:confirm", "confirm token"),
    ("contacts:confirm_resend", "confirm token"),
    ("contacts:unsubscribe", "unsubscribe token"),
    ("ebooks:download", "download token"),
}
TOKEN_KINDS = [
    "tampered signature", "tampered payload", "truncated", "truncated signature", "no signature",
    "confirm token", "unsubscribe token", "download token", "form stamp", "another site's key",
    "junk",
]  # fmt: skip
#: Every (link, token) pair but the genuine ones, which the apps' own tests cover.
MANGLED = [(link, kind) for link in LINKS for kind in TOKEN_KINDS if (link, kind) not in GENUINE]


@pytest.mark.parametrize(("url_name", "kind"), MANGLED)
def test_every_link_refuses_every_mangled_or_foreign_token_with_a_friendly_4xx(
    client,
    url_name,
    kind,
):
    sub = make_subscription("target@example.com")
    result = ebook_services.ebook_request_create(
        email="target@example.com", guide_slug="product-discovery",
        source=contact_services.Source(), actor=contact_services.Actor(),
    )  # fmt: skip
    token = mangled_tokens(sub, result.request_id)[kind]
    url = reverse(url_name, args=[token])
    before = snapshot()
    for method in sorted(SERVED[url_name] - {"HEAD"}):
        response = client.generic(
            method, url, b"List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded", headers=ORIGIN,
        )  # fmt: skip
        assert 400 <= response.status_code < 500, (method, response.status_code)
        assert response.status_code != 405
        page = text_of(response)
        assert "<h1" in page  # our page, in words, not a bare status line
        assert "link" in page.lower()
        assert "no-store" in response["Cache-Control"]
    assert snapshot() == before


@pytest.mark.parametrize("url_name", ["contacts:confirm", "contacts:confirm_resend"])
def test_confirm_links_from_before_their_max_age_never_confirm(client, settings, url_name):
    sub = make_subscription("late@example.com")
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 8 * 86400):
        token = contact_services.confirm_token_make(subscription=sub)
    response = client.post(reverse(url_name, args=[token]), headers=ORIGIN)
    assert response.status_code in {200, 410}  # resend: "check your inbox"; confirm: 410 page
    assert Subscription.objects.get(pk=sub.pk).status == Subscription.Status.PENDING


# -- Volume from one IP ---------------------------------------------------------------------------


def test_fifty_signups_from_one_ip_are_rate_limited_with_retry_after(client, form, settings):
    settings.PUBLIC_FORM_RATE_LIMIT = 10
    settings.PUBLIC_FORM_RATE_WINDOW = 600
    statuses = []
    for i in range(50):
        response = client.post(
            form.url, form.data(f"flood{i}@example.com"), headers=ORIGIN, REMOTE_ADDR="198.51.100.7"
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert 1 <= int(response["Retry-After"]) <= 600
            assert "Too many attempts" in text_of(response)
    assert statuses == [200] * 10 + [429] * 40
    assert Contact.objects.filter(email__startswith="flood").count() == 10


def test_fifty_confirm_posts_from_one_ip_are_rate_limited(client, settings):
    settings.PUBLIC_FORM_RATE_LIMIT = 10
    tokens = []
    for i in range(50):
        sub = make_subscription(f"c{i}@example.com")
        tokens.append(contact_services.confirm_token_make(subscription=sub))
    statuses = [
        client.post(reverse("contacts:confirm", args=[t]), headers=ORIGIN).status_code
        for t in tokens
    ]
    assert statuses == [200] * 10 + [429] * 40
    assert Subscription.objects.filter(status="confirmed").count() == 10


# -- One inbox from many IPs ----------------------------------------------------------------------


def confirmation_mails() -> list[str]:
    return list(
        OutboundMail.objects.filter(template="confirm_subscription").values_list(
            "to_email", flat=True
        )
    )


def delivery_mails() -> list[str]:
    return list(
        OutboundMail.objects.filter(template="ebook_delivery").values_list("to_email", flat=True)
    )


def test_one_address_from_many_ips_gets_one_confirmation_per_cooldown(client):
    answers = set()
    for i in range(30):
        address = ["victim@example.com", "VICTIM@example.com", "victim@EXAMPLE.com"][i % 3]
        response = client.post(
            reverse("contacts:subscribe"), signup_data(address), headers=ORIGIN,
            REMOTE_ADDR=f"192.0.2.{i + 1}",
        )  # fmt: skip
        answers.add((response.status_code, response.content))
    assert len(answers) == 1
    assert answers.pop()[0] == 200
    assert len(confirmation_mails()) == 1
    # The ebook form's newsletter box feeds the same cooldown.
    client.post(
        reverse("ebooks:request"), pdf_data("victim@example.com", newsletter="on"),
        headers=ORIGIN, REMOTE_ADDR="192.0.2.200",
    )  # fmt: skip
    assert len(confirmation_mails()) == 1


def test_one_address_from_many_ips_gets_one_pdf_per_window(client):
    for i in range(20):
        response = client.post(
            reverse("ebooks:request"), pdf_data("reader@example.com"), headers=ORIGIN,
            REMOTE_ADDR=f"198.51.100.{i + 1}",
        )  # fmt: skip
        assert response.status_code == 200
    assert delivery_mails() == ["reader@example.com"]


@pytest.mark.parametrize("kind", ["confirmation", "pdf"])
def test_plus_tag_variants_of_one_inbox_from_many_ips_get_one_mail(client, kind):
    url = reverse("contacts:subscribe" if kind == "confirmation" else "ebooks:request")
    data = signup_data if kind == "confirmation" else pdf_data
    for i in range(20):
        client.post(
            url, data(f"victim+{i}@example.com"), headers=ORIGIN, REMOTE_ADDR=f"192.0.2.{i + 1}"
        )
    mails = confirmation_mails() if kind == "confirmation" else delivery_mails()
    assert len(mails) == 1  # the first variant got its mail; the other 19 got nothing
