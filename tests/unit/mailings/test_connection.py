"""One open mail connection per worker thread, reused from mail to mail (mailings.connection)."""

import threading

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

import pytest

from mailings import connection


class CountingBackend(BaseEmailBackend):
    """A mail backend that records each connection it opens and what was sent on it."""

    opened: list["CountingBackend"] = []
    fail_next = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sent = 0
        self.closed = False

    def open(self) -> bool:
        CountingBackend.opened.append(self)
        return True

    def close(self) -> None:
        self.closed = True

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        if CountingBackend.fail_next:
            CountingBackend.fail_next = False
            raise ConnectionResetError("connection reset by peer")
        self.sent += len(email_messages)
        return len(email_messages)


@pytest.fixture
def counting(settings):
    CountingBackend.opened, CountingBackend.fail_next = [], False
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.CountingBackend"}}
    yield CountingBackend
    connection.close()


def message() -> EmailMessage:
    return EmailMessage(subject="s", body="b", to=["reader@example.com"])


def test_a_thread_sends_mail_after_mail_on_one_open_connection(counting):
    for _ in range(3):
        connection.send(message())
    [opened] = counting.opened
    assert opened.sent == 3
    assert not opened.closed


def test_an_error_closes_the_connection_and_the_next_mail_opens_a_new_one(counting):
    connection.send(message())
    counting.fail_next = True
    with pytest.raises(ConnectionResetError):
        connection.send(message())
    connection.send(message())
    first, second = counting.opened
    assert first.closed
    assert (first.sent, second.sent) == (1, 1)


def test_a_connection_is_renewed_after_max_sends_and_after_idling(counting, monkeypatch):
    monkeypatch.setattr(connection, "MAX_SENDS", 2)
    for _ in range(3):
        connection.send(message())
    assert [backend.sent for backend in counting.opened] == [2, 1]
    monkeypatch.setattr(connection, "MAX_IDLE", -1.0)  # every connection has idled too long
    connection.send(message())
    assert [backend.sent for backend in counting.opened] == [2, 1, 1]
    assert [backend.closed for backend in counting.opened] == [True, True, False]


def test_each_thread_has_its_own_connection(counting):
    connection.send(message())
    thread = threading.Thread(target=lambda: connection.send(message()))
    thread.start()
    thread.join()
    assert len(counting.opened) == 2
    assert [backend.sent for backend in counting.opened] == [1, 1]


def test_a_changed_mail_setting_opens_a_new_connection(counting, settings):
    connection.send(message())
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "another-token"}
    connection.send(message())
    assert len(counting.opened) == 2


# -- What requests would read from the environment on every request --------------------------


API_URL = "https://esp.example.com/"


@pytest.fixture
def postmark(settings, monkeypatch, tmp_path):
    """Anymail's Postmark backend, in an environment with no proxy and no netrc file."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    settings.MAILERS = {"default": {"BACKEND": "anymail.backends.postmark.EmailBackend"}}
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "test-token",
        "POSTMARK_API_URL": API_URL,
    }
    yield monkeypatch
    connection.close()


def test_a_ca_bundle_from_the_environment_is_applied_once_as_the_connection_opens(postmark):
    postmark.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/our-ca.pem")
    session = connection._open().session
    assert session.trust_env is False
    assert session.verify == "/etc/ssl/our-ca.pem"
    settings = session.merge_environment_settings(API_URL + "email", {}, None, None, None)
    assert settings["verify"] == "/etc/ssl/our-ca.pem"


def test_a_proxy_in_the_environment_keeps_being_read_per_request(postmark):
    postmark.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = connection._open().session
    assert session.trust_env is True
    settings = session.merge_environment_settings(API_URL + "email", {}, None, None, None)
    assert settings["proxies"]["https"] == "http://proxy.internal:3128"


def test_a_netrc_entry_for_the_esp_keeps_being_read_per_request(postmark, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine esp.example.com login api password secret\n")
    netrc.chmod(0o600)
    postmark.setenv("NETRC", str(netrc))
    assert connection._open().session.trust_env is True
