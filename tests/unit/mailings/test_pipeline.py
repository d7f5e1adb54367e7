"""Outbound mail: composition, headers, claim-once sending, retries, suppression."""

import smtplib

from django.core import mail as django_mail

import pytest
import requests
from anymail.exceptions import AnymailRecipientsRefused, AnymailRequestsAPIError

from mailings import services
from mailings.models import OutboundMail, Suppression
from tests.fixtures.mailings import make_mail

pytestmark = pytest.mark.django_db(transaction=True)


def test_mail_is_composed_with_text_html_and_one_click_unsubscribe_headers():
    mail = make_mail(unsubscribe_url="http://testserver/s/unsubscribe/tok/")
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.SENT  # eager task ran after commit
    [message] = django_mail.outbox
    assert message.to == ["reader@example.com"]
    assert message.subject == "A test notice for Ada"
    assert "Hello Ada, read http://testserver/guide/." in message.body
    assert "Unsubscribe with one click: http://testserver/s/unsubscribe/tok/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert 'style="' in html  # CSS inlined for mail clients
    assert "<style" not in html.split("</head>")[-1]
    assert message.extra_headers["List-Unsubscribe"] == "<http://testserver/s/unsubscribe/tok/>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.esp_message_id


def test_transactional_mail_without_unsubscribe_url_has_no_list_headers():
    make_mail()
    [message] = django_mail.outbox
    assert "List-Unsubscribe" not in message.extra_headers
    assert "Unsubscribe" not in message.body


def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing():
    from django.db import transaction

    def action_that_fails() -> None:
        with transaction.atomic():
            services.outbound_mail_create(to="a@example.com", template="test_notice", context={})
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        action_that_fails()
    assert OutboundMail.objects.count() == 0
    assert django_mail.outbox == []


def test_sending_twice_sends_once(settings):
    mail = make_mail()
    assert services.mail_send(mail_id=mail.pk) == "nothing-to-do"
    assert services.mail_send(mail_id=mail.pk) == "nothing-to-do"
    assert len(django_mail.outbox) == 1


def test_a_fresh_claim_is_left_alone_and_a_stale_one_is_taken_over_once(monkeypatch, settings):
    from datetime import timedelta

    from django.utils import timezone

    monkeypatch.setattr("config.jobs.enqueue_mail_send", lambda mail_id: True)
    mail = make_mail()  # QUEUED: its task was never published
    claimed = {"status": OutboundMail.Status.SENDING, "attempts": 1}
    OutboundMail.objects.filter(pk=mail.pk).update(claimed_at=timezone.now(), **claimed)
    assert services.mail_send(mail_id=mail.pk) == "in-progress"
    assert django_mail.outbox == []
    settings.MAIL_CLAIM_TIMEOUT = 60
    long_ago = timezone.now() - timedelta(minutes=5)
    OutboundMail.objects.filter(pk=mail.pk).update(claimed_at=long_ago)  # its worker died
    assert services.mail_send(mail_id=mail.pk) == OutboundMail.Status.SENT
    assert services.mail_send(mail_id=mail.pk) == "nothing-to-do"
    assert len(django_mail.outbox) == 1
    mail.refresh_from_db()
    assert (mail.attempts, mail.claimed_at, mail.last_error) == (2, None, "")
    assert mail.sent_at is not None
    assert mail.esp_message_id


def test_a_suppressed_address_is_never_mailed():
    services.suppression_add(email="Gone@Example.com ", reason=Suppression.Reason.BOUNCED)
    mail = make_mail(to="gone@example.com")
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.SUPPRESSED
    assert django_mail.outbox == []


def api_error(status: int) -> AnymailRequestsAPIError:
    response = requests.Response()
    response.status_code, response.reason = status, "ESP says no"
    return AnymailRequestsAPIError("ESP error", status_code=status, response=response)


def fail_with(monkeypatch, exc: Exception) -> None:
    def boom(self, messages):
        raise exc

    monkeypatch.setattr("anymail.backends.test.EmailBackend.send_messages", boom)


@pytest.mark.parametrize(
    "exc",
    [
        api_error(503),
        api_error(429),
        smtplib.SMTPServerDisconnected("gone"),
        TimeoutError("timed out"),
        smtplib.SMTPResponseException(451, b"try later"),
    ],
)
def test_transient_errors_put_the_row_back_and_ask_for_a_retry(monkeypatch, exc):
    monkeypatch.setattr("config.jobs.enqueue_mail_send", lambda mail_id: True)
    mail = make_mail()
    fail_with(monkeypatch, exc)
    with pytest.raises(services.TransientSendError):
        services.mail_send(mail_id=mail.pk)
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.QUEUED
    assert mail.attempts == 1
    assert type(exc).__name__ in mail.last_error


@pytest.mark.parametrize(
    "exc",
    [
        api_error(422),
        AnymailRecipientsRefused("refused"),
        smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}),
        smtplib.SMTPResponseException(554, b"rejected"),
    ],
)
def test_permanent_errors_fail_the_row_without_retry(monkeypatch, exc):
    monkeypatch.setattr("config.jobs.enqueue_mail_send", lambda mail_id: True)
    mail = make_mail()
    fail_with(monkeypatch, exc)
    assert services.mail_send(mail_id=mail.pk) == OutboundMail.Status.FAILED
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.FAILED
    assert mail.last_error


def test_transient_errors_end_failed_after_the_last_attempt(monkeypatch, settings):
    settings.MAIL_MAX_ATTEMPTS = 2
    monkeypatch.setattr("config.jobs.enqueue_mail_send", lambda mail_id: True)
    mail = make_mail()
    fail_with(monkeypatch, TimeoutError("timed out"))
    with pytest.raises(services.TransientSendError):
        services.mail_send(mail_id=mail.pk)
    assert services.mail_send(mail_id=mail.pk) == OutboundMail.Status.FAILED


def test_sweeper_republishes_lost_enqueues_and_stale_claims(monkeypatch, settings):
    from datetime import timedelta

    from django.utils import timezone

    published: list[int] = []
    monkeypatch.setattr("config.jobs.enqueue_mail_send", lambda mail_id: published.append(mail_id))
    lost = make_mail(to="lost@example.com")
    dead = make_mail(to="dead@example.com")
    fresh = make_mail(to="fresh@example.com")
    long_ago = timezone.now() - timedelta(hours=1)
    OutboundMail.objects.filter(pk=lost.pk).update(enqueued_at=long_ago)
    OutboundMail.objects.filter(pk=dead.pk).update(
        status=OutboundMail.Status.SENDING, claimed_at=long_ago, enqueued_at=long_ago
    )
    published.clear()
    settings.MAIL_CLAIM_TIMEOUT = 60
    services.mails_requeue_stuck()
    assert sorted(published) == sorted([lost.pk, dead.pk])
    assert fresh.pk not in published
    dead.refresh_from_db()
    assert dead.status == OutboundMail.Status.QUEUED
    # Sending the re-published rows delivers each exactly once.
    for mail_id in published:
        services.mail_send(mail_id=mail_id)
    assert sorted(m.to[0] for m in django_mail.outbox) == ["dead@example.com", "lost@example.com"]


def test_attachment_comes_from_storage(tmp_path, settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save("ebooks/test/book.pdf", ContentFile(b"%PDF-1.7 test"))
    make_mail(attachment=(name, "The Book.pdf"))
    [message] = django_mail.outbox
    assert message.attachments[0].filename == "The Book.pdf"
    assert message.attachments[0].content == b"%PDF-1.7 test"
    default_storage.delete(name)


def test_lifting_suppressions_in_the_admin_is_audited(admin_client):
    from core.models import AuditEntry

    row = services.suppression_add(email="lift@example.com", reason=Suppression.Reason.MANUAL)
    response = admin_client.post(
        "/admin/mailings/suppression/",
        {"action": "lift", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    assert not Suppression.objects.filter(pk=row.pk).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DELETE)
    assert entry.detail["ids"] == [row.pk]
