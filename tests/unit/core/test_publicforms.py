"""core.publicforms: client IP, same-site check, rate limit, stamp and honeypot, the decorator."""

import logging
import time

from django.http import HttpResponse
from django.test import RequestFactory

import pytest

from core import publicforms
from core.publicforms import (
    PublicForm,
    client_ip,
    form_stamp_make,
    form_stamp_problem,
    is_same_site,
    public_post,
    rate_limit_hit,
)

rf = RequestFactory()


# -- client_ip ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "127.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own entry is not trusted
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "198.51.100.1", "198.51.100.1"),  # fewer entries than proxies: the leftmost
        (1, "", "127.0.0.1"),
        (1, "not-an-ip", "127.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_honours_num_proxies(settings, num_proxies, forwarded, expected):
    settings.NUM_PROXIES = num_proxies
    request = rf.post("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_client_ip_without_any_address():
    request = rf.post("/")
    request.META["REMOTE_ADDR"] = ""
    assert client_ip(request) is None


# -- is_same_site ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "headers", "expected"),
    [
        ("https://guides.example.com", {"Origin": "https://guides.example.com"}, True),
        ("https://guides.example.com", {"Origin": "https://guides.example.com:443"}, True),
        ("https://guides.example.com", {"Origin": "http://guides.example.com"}, False),
        ("https://guides.example.com", {"Origin": "https://guides.example.com:8443"}, False),
        ("https://guides.example.com", {"Origin": "https://example.com"}, False),
        ("https://guides.example.com", {"Origin": "null"}, False),
        ("https://guides.example.com", {"Origin": "https://guides.example.com:99999"}, False),
        ("https://guides.example.com", {"Referer": "https://guides.example.com/a/b?c"}, True),
        (
            "https://guides.example.com",
            {"Referer": "https://evil.example/guides.example.com"},
            False,
        ),
        ("https://guides.example.com", {}, False),
        ("http://127.0.0.1:8000", {"Origin": "http://127.0.0.1:8000"}, True),
        ("http://127.0.0.1:8000", {"Origin": "http://localhost:8000"}, False),
    ],
)
def test_same_site_compares_scheme_host_and_port_with_site_url(settings, site, headers, expected):
    settings.SITE_URL = site
    assert is_same_site(rf.post("/", headers=headers)) is expected


# -- rate_limit_hit ----------------------------------------------------------------------------


def test_fixed_window_rate_limit_counts_per_key_and_scope():
    hit = lambda key, scope="s": rate_limit_hit(scope=scope, key=key, limit=2, window=60)  # noqa: E731
    assert hit("a") is None
    assert hit("a") is None
    retry = hit("a")
    assert retry is not None
    assert 1 <= retry <= 60
    assert hit("b") is None
    assert hit("a", scope="other") is None


def test_rate_limit_disabled_with_zero_limit():
    assert all(rate_limit_hit(scope="s", key="k", limit=0, window=60) is None for _ in range(5))


def test_rate_limit_fails_open_and_logs_when_the_cache_is_down(monkeypatch, caplog):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(cache, "add", down)
    with caplog.at_level(logging.WARNING):
        assert rate_limit_hit(scope="s", key="k", limit=1, window=60) is None
    assert "cache unavailable" in caplog.text


def test_rate_limit_keys_hold_no_raw_ip(monkeypatch):
    seen = []
    from django.core.cache import cache

    real_add = cache.add
    monkeypatch.setattr(
        cache, "add", lambda key, *a, **k: seen.append(key) or real_add(key, *a, **k)
    )
    rate_limit_hit(scope="s", key="198.51.100.77", limit=5, window=60)
    assert seen
    assert "198.51.100.77" not in seen[0]


# -- Stamp and honeypot ------------------------------------------------------------------------


def test_stamp_accepts_a_plausible_age(settings):
    now = time.time()
    stamp = form_stamp_make("newsletter", now=now - 30)
    assert form_stamp_problem(stamp, "newsletter", now=now) is None


@pytest.mark.parametrize(
    ("age", "problem"),
    [(0, "too_fast"), (0.9, "too_fast"), (-60, "too_fast"), (3 * 86400, "too_old")],
)
def test_stamp_too_fast_or_too_old(age, problem):
    now = time.time()
    stamp = form_stamp_make("newsletter", now=now - age)
    assert form_stamp_problem(stamp, "newsletter", now=now) == problem


def test_stamp_bounds_follow_settings(settings):
    settings.PUBLIC_FORM_MIN_SECONDS = 0
    settings.PUBLIC_FORM_MAX_AGE = 10
    now = time.time()
    assert form_stamp_problem(form_stamp_make("f", now=now), "f", now=now) is None
    assert form_stamp_problem(form_stamp_make("f", now=now - 11), "f", now=now) == "too_old"


@pytest.mark.parametrize("stamp", ["", "abc", "newsletter:xyz:abc", "::", "a" * 500])
def test_missing_or_forged_stamps(stamp):
    assert form_stamp_problem(stamp, "newsletter") in {"missing", "forged"}


def test_stamp_of_another_form_or_tampered_is_forged():
    stamp = form_stamp_make("ebook", now=time.time() - 30)
    assert form_stamp_problem(stamp, "newsletter") == "forged"
    value, ts, sig = stamp.split(":")
    assert form_stamp_problem(f"newsletter:{ts}:{sig}", "newsletter") == "forged"
    assert form_stamp_problem(f"{value}:{ts}0:{sig}", "ebook") == "forged"


class DemoForm(PublicForm):
    public_form_name = "demo"


def test_public_form_trap_reason():
    good = form_stamp_make("demo", now=time.time() - 10)
    assert DemoForm({"stamp": good}).trap_reason() is None
    assert DemoForm({"stamp": good, "website": "http://x"}).trap_reason() == "honeypot"
    assert DemoForm({}).trap_reason() == "missing"
    assert DemoForm({"stamp": DemoForm.initial_stamp()}).trap_reason() == "too_fast"


# -- The decorator -----------------------------------------------------------------------------


@public_post(scope="demo", limit=2, window=60)
def demo_view(request):
    return HttpResponse("ok")


def test_decorator_checks_origin_then_rate_limit_and_is_csrf_exempt(settings):
    settings.SITE_URL = "http://testserver"
    assert getattr(demo_view, "csrf_exempt", False) is True
    assert demo_view(rf.get("/")).status_code == 200  # GET passes untouched
    foreign = demo_view(rf.post("/", headers={"Origin": "https://evil.example"}))
    assert foreign.status_code == 403
    assert foreign["Cache-Control"] == "no-store"
    ours = {"Origin": "http://testserver"}
    assert [demo_view(rf.post("/", headers=ours)).status_code for _ in range(3)] == [200, 200, 429]
    limited = demo_view(rf.post("/", headers=ours))
    assert int(limited["Retry-After"]) >= 1
    assert "Too many attempts" in limited.content.decode()


def test_decorator_can_skip_the_same_site_check():
    view = public_post(scope="open", same_site=False, limit=0)(lambda request: HttpResponse("ok"))
    assert view(rf.post("/", headers={"Origin": "https://mail.example"})).status_code == 200


def test_module_documents_its_decision_record():
    from pathlib import Path

    assert "0001-public-forms-without-csrf-cookie" in (publicforms.__doc__ or "")
    root = Path(__file__).resolve().parents[3]
    assert (root / "docs/decisions/0001-public-forms-without-csrf-cookie.md").exists()


def test_token_page_forms_accept_origin_null_but_not_a_foreign_origin(rf, settings):
    from core.publicforms import is_same_site

    null = rf.post("/s/confirm/x/", HTTP_ORIGIN="null")
    assert is_same_site(null, allow_null_origin=True)
    assert not is_same_site(null)  # public forms (signup, PDF) still refuse it
    foreign = rf.post("/s/confirm/x/", HTTP_ORIGIN="https://evil.example")
    assert not is_same_site(foreign, allow_null_origin=True)
