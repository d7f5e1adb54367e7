"""Admin sign-in throttling: per username and per IP, a cool-off that ends, never a lockout."""

import logging

import pytest

from accounts import throttle
from tests.unit.accounts.conftest import LOGIN, PASSWORD, login_data, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 6
    settings.LOGIN_FAILURE_WINDOW = 900
    settings.LOGIN_COOLOFF_SECONDS = 600


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, movable by the test."""
    now = [1_000_000.0]
    monkeypatch.setattr(throttle, "_now", lambda: now[0])
    return now


def fail(client, username: str = "staff", ip: str = "192.0.2.10"):
    return client.post(LOGIN, login_data(username, "wrong password"), REMOTE_ADDR=ip)


def succeed(client, username: str = "staff", ip: str = "192.0.2.10"):
    return client.post(LOGIN, login_data(username, PASSWORD), REMOTE_ADDR=ip)


def test_failures_up_to_the_limit_get_the_normal_error(client):
    make_staff()
    for _ in range(2):
        response = fail(client)
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    assert succeed(client).status_code == 302  # a success clears the count


def test_the_limit_starts_a_cool_off_that_refuses_even_the_right_password(client, clock):
    make_staff()
    for _ in range(2):
        fail(client)
    third = fail(client)
    assert third.status_code == 429
    assert third["Retry-After"] == "600"
    assert "Too many failed sign-in attempts" in third.content.decode()
    refused = succeed(client)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "please try again in 10 minutes" in html
    assert "Nothing is locked for good" in html
    assert "_auth_user_id" not in client.session


def test_the_cool_off_ends_by_itself_with_a_full_set_of_tries(client, clock):
    make_staff()
    for _ in range(3):
        fail(client)
    assert succeed(client).status_code == 429
    clock[0] += 601
    assert fail(client).status_code == 200  # not straight back into a cool-off
    assert succeed(client).status_code == 302


def test_cool_off_is_per_username_from_any_ip(client, clock):
    make_staff()
    make_staff("other")
    for i in range(3):
        fail(client, ip=f"192.0.2.{i + 1}")
    assert succeed(client, ip="198.51.100.1").status_code == 429
    assert succeed(client, "other", ip="198.51.100.1").status_code == 302


def test_cool_off_is_per_ip_across_usernames(client, clock):
    make_staff()
    for i in range(6):  # password spraying: one IP, many usernames
        response = fail(client, username=f"user{i}")
    assert response.status_code == 429
    assert succeed(client).status_code == 429  # the real account, from that IP
    assert succeed(client, ip="198.51.100.2").status_code == 302


def test_usernames_are_counted_case_insensitively(client, clock):
    make_staff()
    for name in ("staff", "STAFF", "Staff"):
        fail(client, username=name)
    assert succeed(client).status_code == 429


def test_the_cache_holds_no_username_or_ip(client, monkeypatch):
    from django.core.cache import cache

    seen: list[str] = []
    for name in ("get_many", "add", "incr", "set", "delete"):
        real = getattr(cache, name)

        def spy(key, *args, _real=real, **kwargs):
            seen.extend([key] if isinstance(key, str) else list(key))
            return _real(key, *args, **kwargs)

        monkeypatch.setattr(cache, name, spy)
    for _ in range(3):
        fail(client, username="secret-admin", ip="203.0.113.99")
    assert any(":lock:" in key for key in seen)
    assert not [k for k in seen if "secret-admin" in k or "203.0.113.99" in k]


def test_the_throttle_fails_open_and_logs_when_the_cache_is_down(client, monkeypatch, caplog):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    make_staff()
    for name in ("get_many", "add", "incr", "set", "delete"):
        monkeypatch.setattr(cache, name, down)
    with caplog.at_level(logging.WARNING, logger="accounts.throttle"):
        for _ in range(5):
            assert fail(client).status_code == 200
        assert succeed(client).status_code == 302
    assert "cache unavailable" in caplog.text


def test_a_cool_off_is_logged_without_the_username_or_ip(client, caplog):
    make_staff()
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            fail(client, ip="203.0.113.5")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "cooling off" in text
    assert "staff" not in text.lower()
    assert "203.0.113.5" not in text
    assert PASSWORD not in text
    assert "wrong password" not in text


def test_service_api_directly():
    assert throttle.login_cooloff_remaining(username="x", ip="192.0.2.1") is None
    assert throttle.login_failure_record(username="x", ip="192.0.2.1") is None
    assert throttle.login_failure_record(username="x", ip="192.0.2.1") is None
    assert throttle.login_failure_record(username="x", ip="192.0.2.1") == 600
    remaining = throttle.login_cooloff_remaining(username="x", ip="192.0.2.99")
    assert remaining is not None
    assert 0 < remaining <= 600
    assert throttle.login_cooloff_remaining(username="y", ip="192.0.2.99") is None
