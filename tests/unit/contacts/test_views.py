"""Signup, confirm and unsubscribe pages: no enumeration, abuse guards, links, never a 500."""

import logging
import time

from django.core import mail
from django.urls import reverse

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from contacts import services
from contacts.models import ConsentEvent, Contact, Subscription
from core.signing import make_token
from mailings.models import OutboundMail
from mailings.services import suppression_add
from tests.fixtures.publicforms import answers_of, trap_cases
from tests.unit.contacts.conftest import (
    ORIGIN,
    age_cooldown,
    make_subscription,
    signup_data,
    stamp,
)

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE = reverse("contacts:subscribe")
Status = Subscription.Status


def confirm_url(sub: Subscription) -> str:
    return reverse("contacts:confirm", args=[services.confirm_token_make(subscription=sub)])


def unsubscribe_url(sub: Subscription) -> str:
    return reverse(
        "contacts:unsubscribe", args=[services.unsubscribe_token_make(subscription_id=sub.pk)]
    )


def snapshot() -> tuple:
    """Everything a request could change."""
    return (
        list(Subscription.objects.order_by("pk").values()),
        ConsentEvent.objects.count(),
        OutboundMail.objects.count(),
        Contact.objects.count(),
    )


# -- Signup: one answer for everything ---------------------------------------------------------


def test_every_address_state_and_every_trap_gets_the_byte_identical_answer(client, settings):
    settings.PUBLIC_FORM_RATE_LIMIT = 100
    make_subscription("pending@example.com")
    age_cooldown(Subscription.objects.get(contact__email="pending@example.com"))
    make_subscription("throttled@example.com")
    make_subscription("confirmed@example.com", "confirmed")
    unsub = make_subscription("unsub@example.com", "unsubscribed")
    age_cooldown(unsub)
    make_subscription("bounced@example.com", "bounced")
    suppression_add(email="suppressed@example.com", reason="complained")
    cases = {
        "new": signup_data("new@example.com"),
        "pending": signup_data("pending@example.com"),
        "throttled": signup_data("throttled@example.com"),
        "confirmed": signup_data("confirmed@example.com"),
        "unsubscribed": signup_data("unsub@example.com"),
        "bounced": signup_data("bounced@example.com"),
        "suppressed": signup_data("suppressed@example.com"),
        **trap_cases(signup_data, form="newsletter", other_form="ebook"),
    }
    last_mail = OutboundMail.objects.order_by("pk").last().pk
    answers = answers_of(client, SUBSCRIBE, cases, ORIGIN)
    first = answers["new"]
    assert first[0] == 200
    assert b"Check your inbox" in first[1]
    assert {name: answer == first for name, answer in answers.items()} == dict.fromkeys(cases, True)
    # ... while what happened behind the answer differs.
    sent = OutboundMail.objects.filter(pk__gt=last_mail).values_list("to_email", flat=True)
    assert sorted(sent) == ["new@example.com", "pending@example.com", "unsub@example.com"]
    assert not Contact.objects.filter(email__startswith="bot").exists()


def test_signup_post_creates_rows_and_sends_the_confirmation(client, run_on_commit):
    with run_on_commit():
        response = client.post(
            SUBSCRIBE,
            signup_data(
                "Reader@example.org",
                page="http://testserver/modern-product-management/roadmaps/?utm_source=x&utm_campaign=y",
                referrer="https://search.example.net/?q=secret#frag",
            ),
            headers={**ORIGIN, "User-Agent": "Mozilla/5.0 test"},
            REMOTE_ADDR="198.51.100.9",
        )
    assert response.status_code == 200
    sub = Subscription.objects.select_related("contact").get()
    assert sub.contact.email == "Reader@example.org"
    assert (sub.guide_slug, sub.chapter_number, sub.form_name) == (
        "modern-product-management", 5, "inline",
    )  # fmt: skip
    assert sub.page_path == "/modern-product-management/roadmaps/"
    assert (sub.utm_source, sub.utm_campaign) == ("x", "y")
    assert sub.referrer == "https://search.example.net/"  # no query: it may hold PII
    event = ConsentEvent.objects.get()
    assert (event.ip, event.user_agent) == ("198.51.100.9", "Mozilla/5.0 test")
    assert event.page_path == "/modern-product-management/roadmaps/"
    [message] = mail.outbox
    assert message.to == ["Reader@example.org"]


def test_without_script_the_page_and_utm_come_from_the_referer(client):
    headers = {"Referer": "http://testserver/product-discovery/why-discovery/?utm_medium=social"}
    response = client.post(SUBSCRIBE, signup_data(), headers=headers)
    assert response.status_code == 200
    sub = Subscription.objects.get()
    assert (sub.page_path, sub.utm_medium) == ("/product-discovery/why-discovery/", "social")


def test_bad_attribution_hints_never_refuse_a_signup(client):
    data = signup_data(guide="../../etc", chapter="9999999", source_form="<script>")
    data["page"] = "https://evil.example.net/?utm_source=spoof"
    response = client.post(SUBSCRIBE, data, headers=ORIGIN)
    assert response.status_code == 200
    sub = Subscription.objects.get()
    assert (sub.guide_slug, sub.chapter_number, sub.form_name, sub.utm_source) == ("", None, "", "")


# -- Signup: bad input is a form error, never a 500 --------------------------------------------


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Please enter your email address."),
        ("Ann <ann@example.com>", "without a name"),
        ("ann@example.com, bob@example.com", "one email address only"),
        ("ann@example.com\r\nBcc: victim@example.com", "control character"),
        ("ann\x00@example.com", "control character"),
        ("ann\u200b@example.com", "invisible"),
        ("jörg@example.de", "only ASCII letters before the @"),
        ("ann@localhost", "public domain"),
        ("ann@[127.0.0.1]", "public domain"),
        ("ann@mailinator.com", "disposable"),
        ("a" * 65 + "@example.com", "too long"),
        ("ann@" + "a" * 250 + ".com", "valid domain"),
        ("x" * 5000, "too long"),
    ],
)
def test_bad_addresses_get_a_clear_form_error(client, email, message):
    response = client.post(SUBSCRIBE, signup_data(email), headers=ORIGIN)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html.replace("&#x27;", "'").replace("’", "'") or message in html
    assert 'aria-invalid="true"' in html
    assert 'class="form-error"' in html
    assert not Contact.objects.exists()


def test_missing_consent_and_stale_consent_version_are_form_errors(client):
    response = client.post(SUBSCRIBE, signup_data(consent=None), headers=ORIGIN)
    assert response.status_code == 400
    assert "Please tick the box" in response.content.decode()
    response = client.post(SUBSCRIBE, signup_data(consent_version="1999-01"), headers=ORIGIN)
    assert response.status_code == 400
    assert "out of date" in response.content.decode()
    assert not Contact.objects.exists()


def test_the_error_page_keeps_the_form_values_and_the_original_stamp(client):
    data = signup_data("ann@localhost", consent=None)
    html = client.post(SUBSCRIBE, data, headers=ORIGIN).content.decode()
    assert 'value="ann@localhost"' in html
    assert f'name="stamp" value="{data["stamp"]}"' in html
    assert 'name="guide" value="modern-product-management"' in html
    assert 'name="source_form" value="inline"' in html
    # Resubmitting right away (a person fixing a typo) is not "too fast".
    fixed = {**data, "email": "ann@example.com", "consent": "on"}
    assert client.post(SUBSCRIBE, fixed, headers=ORIGIN).status_code == 200
    assert Contact.objects.filter(email="ann@example.com").exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": ["a@example.com", "b@example.com"], "consent": "on"},
        {"consent_version": "x" * 1000, "email": "a@example.com"},
        {"chapter": "-1", "guide": "\x00", "stamp": "a:b:c"},
        {"chapter": "²", "email": "a@localhost", "consent": "on", "stamp": stamp()},
        {"chapter": "²", "email": "a@example.com", "consent": "on", "stamp": stamp()},
    ],
)
def test_malformed_posts_never_500(client, data):
    response = client.post(SUBSCRIBE, data, headers=ORIGIN)
    assert response.status_code in {200, 400}


def test_standalone_signup_page_is_cookie_free_and_has_the_box(client):
    response = client.get(SUBSCRIBE)
    assert response.status_code == 200
    assert not response.cookies
    html = response.content.decode()
    assert '<label for="signup-page-email">Email</label>' in html
    assert 'type="checkbox" name="consent"' in html
    assert "checked" not in html


# -- Signup: Origin / Referer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example.net"},
        {"Origin": "null"},
        {"Origin": "http://testserver:8080"},
        {"Origin": "https://testserver"},
        {"Origin": "http://testserver.evil.example.net"},
        {"Referer": "https://evil.example.net/page"},
        {"Origin": "https://evil.example.net", "Referer": "http://testserver/page"},
        {"Origin": "::not a url::"},
    ],
)
def test_cross_site_or_unlabelled_posts_get_a_clear_403(client, headers):
    response = client.post(SUBSCRIBE, signup_data(), headers=headers)
    assert response.status_code == 403
    assert "must be sent from our own pages" in response.content.decode()
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Origin": "http://TESTSERVER:80"},
        {"Referer": "http://testserver/modern-product-management/roadmaps/"},
    ],
)
def test_same_site_posts_are_accepted(client, headers):
    assert client.post(SUBSCRIBE, signup_data(), headers=headers).status_code == 200
    assert Contact.objects.count() == 1


def test_no_csrf_cookie_is_needed(client):
    strict = client.__class__(enforce_csrf_checks=True)
    response = strict.post(SUBSCRIBE, signup_data(), headers=ORIGIN)
    assert response.status_code == 200


# -- Signup: rate limit ------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_per_ip(client, settings):
    settings.PUBLIC_FORM_RATE_LIMIT = 3
    settings.PUBLIC_FORM_RATE_WINDOW = 600
    for i in range(3):
        response = client.post(SUBSCRIBE, signup_data(f"r{i}@example.com"), headers=ORIGIN)
        assert response.status_code == 200
    response = client.post(SUBSCRIBE, signup_data("r9@example.com"), headers=ORIGIN)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 600
    assert "Too many attempts" in response.content.decode()
    assert not Contact.objects.filter(email="r9@example.com").exists()
    other = client.post(
        SUBSCRIBE, signup_data("r9@example.com"), headers=ORIGIN, REMOTE_ADDR="192.0.2.55"
    )
    assert other.status_code == 200


def test_rate_limit_uses_the_forwarded_client_behind_trusted_proxies(client, settings):
    settings.PUBLIC_FORM_RATE_LIMIT = 1
    settings.NUM_PROXIES = 1
    for ip in ("192.0.2.1", "192.0.2.2"):
        headers = {**ORIGIN, "X-Forwarded-For": f"10.9.9.9, {ip}"}
        assert client.post(SUBSCRIBE, signup_data(), headers=headers).status_code == 200
    headers = {**ORIGIN, "X-Forwarded-For": "spoofed, 192.0.2.1"}
    assert client.post(SUBSCRIBE, signup_data(), headers=headers).status_code == 429


def test_rate_limit_fails_open_when_the_cache_is_down(client, settings, monkeypatch, caplog):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    settings.PUBLIC_FORM_RATE_LIMIT = 1
    monkeypatch.setattr(cache, "add", down)
    monkeypatch.setattr(cache, "incr", down)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert client.post(SUBSCRIBE, signup_data(), headers=ORIGIN).status_code == 200
    assert "cache unavailable" in caplog.text


# -- Confirm -----------------------------------------------------------------------------------


def test_confirm_get_shows_a_button_and_changes_nothing(client):
    sub = make_subscription()
    before = snapshot()
    for method in (client.get, client.head):
        response = method(confirm_url(sub))
        assert response.status_code == 200
        assert not response.cookies
    assert "Yes, subscribe me" in client.get(confirm_url(sub)).content.decode()
    assert 'method="post"' in client.get(confirm_url(sub)).content.decode()
    assert snapshot() == before


def test_confirm_post_confirms_idempotently_and_sends_one_welcome(client, run_on_commit):
    sub = make_subscription()
    mail.outbox.clear()
    with run_on_commit():
        first = client.post(confirm_url(sub), headers=ORIGIN)
    second = client.post(confirm_url(sub), headers=ORIGIN)
    assert (first.status_code, second.status_code) == (200, 200)
    assert "You’re subscribed" in first.content.decode()
    assert "already subscribed" in second.content.decode()
    assert Subscription.objects.get().status == Status.CONFIRMED
    assert [m.subject for m in mail.outbox] == ["Welcome to the Chapterhouse newsletter"]
    assert OutboundMail.objects.filter(template="welcome").count() == 1


def test_confirm_post_needs_no_csrf_cookie(client):
    sub = make_subscription()
    strict = client.__class__(enforce_csrf_checks=True)
    assert strict.post(confirm_url(sub), headers=ORIGIN).status_code == 200
    assert Subscription.objects.get().status == Status.CONFIRMED


def test_token_pages_allow_only_their_methods(client):
    sub = make_subscription()
    assert client.put(confirm_url(sub)).status_code == 405
    assert client.delete(unsubscribe_url(sub)).status_code == 405
    assert client.get(confirm_url(sub) + "resend/").status_code == 405


def test_confirm_post_needs_our_origin(client):
    sub = make_subscription()
    response = client.post(confirm_url(sub), headers={"Origin": "https://scanner.example.net"})
    assert response.status_code == 403
    assert Subscription.objects.get().status == Status.PENDING


def test_tampered_and_cross_purpose_tokens_get_400(client):
    sub = make_subscription()
    token = services.confirm_token_make(subscription=sub)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    unsub_token = services.unsubscribe_token_make(subscription_id=sub.pk)
    for url in (
        reverse("contacts:confirm", args=[tampered]),
        reverse("contacts:confirm", args=[unsub_token]),
        reverse("contacts:confirm", args=["not-a-token"]),
        reverse("contacts:confirm", args=[make_token(services.CONFIRM_PURPOSE, "garbage")]),
        reverse("contacts:confirm", args=[make_token(services.CONFIRM_PURPOSE, 7)]),
    ):
        for response in (client.get(url), client.post(url, headers=ORIGIN)):
            assert response.status_code == 400, url
            assert "This link doesn’t work" in response.content.decode()
    assert Subscription.objects.get().status == Status.PENDING


def test_unknown_subscription_gets_404(client):
    token = make_token(services.CONFIRM_PURPOSE, "987654.1")
    url = reverse("contacts:confirm", args=[token])
    assert client.get(url).status_code == 404
    response = client.post(url, headers=ORIGIN)
    assert response.status_code == 404
    assert "couldn’t find this subscription" in response.content.decode()


def _expired_confirm_url(sub: Subscription, monkeypatch, days: int = 8) -> str:
    real = time.time
    with monkeypatch.context() as patch:
        patch.setattr("django.core.signing.time.time", lambda: real() - days * 86400)
        return confirm_url(sub)


def test_expired_link_answers_410_with_a_way_to_get_a_new_mail(client, monkeypatch):
    sub = make_subscription()
    url = _expired_confirm_url(sub, monkeypatch)
    before = snapshot()
    for response in (client.get(url), client.post(url, headers=ORIGIN)):
        assert response.status_code == 410
        html = response.content.decode()
        assert "has expired" in html
        assert "Email me a new link" in html
    assert snapshot() == before
    age_cooldown(sub)
    resend = client.post(url + "resend/", headers=ORIGIN)
    assert resend.status_code == 200
    assert "Check your inbox" in resend.content.decode()
    assert OutboundMail.objects.filter(template="confirm_subscription").count() == 2
    assert Subscription.objects.get().status == Status.PENDING


def test_expired_link_of_a_confirmed_subscription_just_says_so(client, monkeypatch):
    sub = make_subscription(status="confirmed")
    response = client.get(_expired_confirm_url(sub, monkeypatch))
    assert response.status_code == 200
    assert "already subscribed" in response.content.decode()


def test_old_confirm_link_after_unsubscribe_does_not_resubscribe(client):
    sub = make_subscription()
    url = confirm_url(sub)
    services.subscription_unsubscribe(subscription_id=sub.pk, actor=services.Actor())
    for response in (client.get(url), client.post(url, headers=ORIGIN)):
        assert response.status_code == 410
        assert "no longer valid" in response.content.decode()
    assert Subscription.objects.get().status == Status.UNSUBSCRIBED
    # A new signup brings a new link; the old one stays dead.
    age_cooldown(sub)
    services.contact_subscribe(
        email="ann@example.com", consent_version=signup_data()["consent_version"],
        source=services.Source(), actor=services.Actor(),
    )  # fmt: skip
    assert client.post(url, headers=ORIGIN).status_code == 410
    assert Subscription.objects.get().status == Status.PENDING


def test_resend_with_a_bad_token_is_400_and_unknown_is_the_same_answer(client):
    assert client.post("/s/confirm/garbage/resend/", headers=ORIGIN).status_code == 400
    token = make_token(services.CONFIRM_PURPOSE, "987654.1")
    response = client.post(reverse("contacts:confirm_resend", args=[token]), headers=ORIGIN)
    assert response.status_code == 200
    assert client.get(reverse("contacts:confirm_resend", args=[token])).status_code == 405


# -- Unsubscribe -------------------------------------------------------------------------------


def test_unsubscribe_get_shows_a_button_and_changes_nothing(client):
    sub = make_subscription(status="confirmed")
    before = snapshot()
    response = client.get(unsubscribe_url(sub))
    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()
    assert client.head(unsubscribe_url(sub)).status_code == 200
    assert snapshot() == before


def test_one_click_urlencoded_without_cookies_or_origin_unsubscribes_idempotently(client):
    sub = make_subscription(status="confirmed")
    strict = client.__class__(enforce_csrf_checks=True)
    for _ in range(2):
        response = strict.post(
            unsubscribe_url(sub),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
            headers={"Origin": "https://mail.example.com"},
        )
        assert response.status_code == 200
        assert not response.has_header("Location")
        assert not response.cookies
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED
    [event] = ConsentEvent.objects.filter(event="unsubscribe")
    assert event.detail == "one-click"


def test_one_click_multipart_unsubscribes(client):
    sub = make_subscription(status="confirmed")
    response = client.post(unsubscribe_url(sub), {"List-Unsubscribe": "One-Click"})  # multipart
    assert response.status_code == 200
    assert Subscription.objects.get().status == Status.UNSUBSCRIBED


def test_unsubscribe_works_with_the_cache_down(client, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    sub = make_subscription(status="confirmed")
    for name in ("get", "set", "add", "incr", "delete"):
        monkeypatch.setattr(cache, name, down)
    response = client.post(unsubscribe_url(sub), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Subscription.objects.get().status == Status.UNSUBSCRIBED


def test_unsubscribe_page_button_and_bad_tokens(client):
    sub = make_subscription(status="confirmed")
    response = client.post(unsubscribe_url(sub))  # the page's button: no body at all
    assert response.status_code == 200
    assert "You’re unsubscribed" in response.content.decode()
    assert ConsentEvent.objects.get(event="unsubscribe").detail == "unsubscribe page"
    assert "already unsubscribed" in client.get(unsubscribe_url(sub)).content.decode()
    confirm_token = services.confirm_token_make(subscription=sub)
    for token in ("garbage", confirm_token, make_token(services.UNSUBSCRIBE_PURPOSE, "x")):
        url = reverse("contacts:unsubscribe", args=[token])
        assert client.get(url).status_code == 400
        assert client.post(url).status_code == 400


def test_unsubscribe_of_a_deleted_subscription(client):
    url = reverse(
        "contacts:unsubscribe", args=[services.unsubscribe_token_make(subscription_id=987654)]
    )
    assert client.get(url).status_code == 404
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_malformed_multipart_one_click_still_unsubscribes(client):
    sub = make_subscription(status="confirmed")
    response = client.generic(
        "POST",
        unsubscribe_url(sub),
        b"--x\r\nbroken",
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 200
    assert Subscription.objects.get().status == Status.UNSUBSCRIBED


# -- Logs ----------------------------------------------------------------------------------------


def test_logs_hold_neither_tokens_nor_addresses(client, caplog):
    sub = make_subscription()
    token = services.confirm_token_make(subscription=sub)
    with caplog.at_level(logging.DEBUG):
        client.post(SUBSCRIBE, signup_data("secret.person@example.com"), headers=ORIGIN)
        client.get(reverse("contacts:confirm", args=[token[:-1] + "x"]))
        client.post(reverse("contacts:confirm", args=[token]), headers=ORIGIN)
        client.post(unsubscribe_url(sub), {"List-Unsubscribe": "One-Click"})
        client.get(reverse("contacts:confirm", args=["junk-token"]))
        client.post(
            reverse("contacts:confirm", args=[token]), headers={"Origin": "https://x.example"}
        )
        client.put(reverse("contacts:confirm", args=[token]))
        client.delete(unsubscribe_url(sub))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "secret.person" not in text
    assert token[:20] not in text
    assert "junk-token" not in text
    assert "/s/confirm/" not in text
    assert "/s/unsubscribe/" not in text


# -- Fuzz ----------------------------------------------------------------------------------------


@settings_(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=st.text(max_size=400), chapter=st.text(max_size=8), guide=st.text(max_size=40))
def test_any_typed_input_is_a_page_never_a_500(client, settings, email, chapter, guide):
    settings.PUBLIC_FORM_RATE_LIMIT = 0
    data = signup_data(email.replace("\x00", "\x01"), chapter=chapter, guide=guide)
    response = client.post(SUBSCRIBE, data, headers=ORIGIN)
    assert response.status_code in {200, 400}


@settings_(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # Lone surrogates (Cs) cannot travel in a URL at all: the test client could not send them.
    token=st.text(
        alphabet=st.characters(blacklist_characters="/?#%\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=200,
    )
)
def test_any_token_is_a_page_never_a_500(client, settings, token):
    settings.PUBLIC_FORM_RATE_LIMIT = 0
    for name in ("contacts:confirm", "contacts:unsubscribe"):
        url = reverse(name, args=[token])
        assert client.get(url).status_code in {400, 404}
        assert client.post(url, headers=ORIGIN).status_code in {200, 400, 404}
