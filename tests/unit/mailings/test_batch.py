"""Batch sending: the claim of many rows, consent once per batch, outcomes per recipient,
bulk finishes, the fallback to one message per recipient, Postmark's merge on our side, and
the shared send-rate limiter."""

import json

from django.core import mail as django_mail
from django.db import transaction

import pytest
from anymail.exceptions import AnymailAPIError, AnymailRequestsAPIError
from anymail.message import AnymailRecipientStatus

from mailings import batch, consent, ratelimit
from mailings.bulk import mails_cancel, mails_hold, mails_release, outbound_mails_create_many
from mailings.models import OutboundMail
from mailings.services import TransientSendError, suppression_add

pytestmark = pytest.mark.django_db

ADDRESSES = [f"r{i}@example.com" for i in range(4)]


@pytest.fixture(autouse=True)
def everyone_consents(monkeypatch):
    """A gate that lets everyone through except addresses listed in `refused`."""
    refused: dict[str, str] = {}

    def gate(*, emails):
        return {email: refused.get(email) for email in emails}

    monkeypatch.setattr(consent, "_gate", gate)
    return refused


def queued(*addresses: str, template: str = "test_notice") -> list[int]:
    with transaction.atomic():
        created = outbound_mails_create_many(
            recipients=[(a, f"http://testserver/s/unsubscribe/{a}/") for a in addresses],
            template=template,
            context={"name": "Ada"},
        )
    return [created[a] for a in addresses]


def states(ids: list[int]) -> dict[str, tuple[str, str]]:
    rows = OutboundMail.objects.filter(pk__in=ids)
    return {m.to_email: (m.status, m.skip_reason or m.last_error) for m in rows}


def test_one_claim_one_message_and_every_row_finished_sent():
    ids = queued(*ADDRESSES)
    result = batch.mail_batch_send(mail_ids=ids)
    assert result.sent == 4
    [message] = django_mail.outbox
    assert message.to == ADDRESSES
    params = message.anymail_test_params
    assert set(params["merge_data"]) == set(ADDRESSES)
    assert params["merge_headers"]["r1@example.com"] == {
        "List-Unsubscribe": "<http://testserver/s/unsubscribe/r1@example.com/>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    mails = OutboundMail.objects.filter(pk__in=ids)
    assert {m.status for m in mails} == {"sent"}
    assert [(m.esp_message_id, m.attempts) for m in mails] == [("0", 1)] * 4  # outbox index
    assert all(m.sent_at for m in mails)


def test_a_second_delivery_of_the_batch_claims_nothing():
    ids = queued(*ADDRESSES)
    batch.mail_batch_send(mail_ids=ids)
    again = batch.mail_batch_send(mail_ids=ids)
    assert (again.sent, again.not_claimed, again.busy) == (0, 4, [])
    assert len(django_mail.outbox) == 1


def test_a_fresh_claim_held_by_another_attempt_is_reported_busy():
    ids = queued(*ADDRESSES)
    batch._claim_many(ids[:2])  # another worker holds these two
    result = batch.mail_batch_send(mail_ids=ids)
    assert result.sent == 2
    assert sorted(result.busy) == sorted(ids[:2])


def test_consent_is_asked_once_and_refused_rows_end_skipped(everyone_consents, monkeypatch):
    ids = queued(*ADDRESSES)
    everyone_consents["r2@example.com"] = "unsubscribed"
    calls = []
    gate = consent._gate
    monkeypatch.setattr(
        consent, "_gate", lambda *, emails: calls.append(emails) or gate(emails=emails)
    )
    batch.mail_batch_send(mail_ids=ids)
    assert len(calls) == 1
    assert states(ids)["r2@example.com"] == ("skipped", "unsubscribed")
    [message] = django_mail.outbox
    assert "r2@example.com" not in message.to


def test_outcomes_map_back_per_recipient_and_refused_ones_fail_with_the_reason():
    ids = queued(*ADDRESSES)

    def send(message):
        message.anymail_status.set_recipient_status(
            {
                a: AnymailRecipientStatus(message_id=None if a == "r3@example.com" else f"id-{a}",
                                          status="rejected" if a == "r3@example.com" else "queued")
                for a in message.to
            }
        )  # fmt: skip

    from anymail.message import AnymailStatus

    def fake_send(message):
        message.anymail_status = AnymailStatus()
        send(message)

    batch.mail_connection.send, real = fake_send, batch.mail_connection.send
    try:
        result = batch.mail_batch_send(mail_ids=ids)
    finally:
        batch.mail_connection.send = real
    assert (result.sent, result.failed) == (3, 1)
    found = states(ids)
    assert found["r3@example.com"] == ("failed", "ESP refused the recipient: rejected")
    assert OutboundMail.objects.get(pk=ids[0]).esp_message_id == "id-r0@example.com"


def test_a_transient_error_puts_the_batch_back_and_raises(monkeypatch):
    ids = queued(*ADDRESSES)
    error = AnymailRequestsAPIError("429 Too Many Requests")
    error.status_code = 429

    def fail(message):
        raise error

    monkeypatch.setattr(batch.mail_connection, "send", fail)
    with pytest.raises(TransientSendError):
        batch.mail_batch_send(mail_ids=ids)
    assert {s for s, _ in states(ids).values()} == {"queued"}


def test_a_permanent_error_fails_the_batch_with_the_reason(monkeypatch):
    ids = queued(*ADDRESSES)

    def fail(message):
        raise AnymailAPIError("Invalid 'From' address")

    monkeypatch.setattr(batch.mail_connection, "send", fail)
    result = batch.mail_batch_send(mail_ids=ids)
    assert result.failed == 4
    assert all(s == "failed" and "Invalid 'From'" in e for s, e in states(ids).values())


def test_a_backend_that_cannot_batch_sends_one_message_per_recipient(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    ids = queued(*ADDRESSES)
    result = batch.mail_batch_send(mail_ids=ids)
    assert result.sent == 4
    assert [m.to for m in django_mail.outbox] == [[a] for a in ADDRESSES]
    first = django_mail.outbox[0]
    assert first.extra_headers["List-Unsubscribe"] == (
        "<http://testserver/s/unsubscribe/r0@example.com/>"
    )


def test_transactional_rows_check_suppression_in_one_query():
    from mailings.services import outbound_mail_create

    with transaction.atomic():
        ok = outbound_mail_create(to="ok@example.com", template="test_notice", context={})
        blocked = outbound_mail_create(to="no@example.com", template="test_notice", context={})
    suppression_add(email="NO@example.com", reason="bounced")
    django_mail.outbox.clear()
    OutboundMail.objects.update(status="queued")
    result = batch.mail_batch_send(mail_ids=[ok.pk, blocked.pk])
    assert (result.sent, result.suppressed) == (1, 1)
    assert [m.to for m in django_mail.outbox] == [["ok@example.com"]]


def test_hold_release_and_cancel_act_on_queued_rows_only(
    django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr(
        "config.jobs.enqueue_mail_send_batch", lambda ids: published.append(ids) or True
    )
    ids = queued(*ADDRESSES)
    published.clear()
    OutboundMail.objects.filter(pk=ids[0]).update(status="sent")
    assert mails_hold(mail_ids=ids) == 3
    assert batch.mail_batch_send(mail_ids=ids).sent == 0  # held rows are not claimed
    with django_capture_on_commit_callbacks(execute=True):
        assert mails_release(mail_ids=ids) == 3
    assert published == [sorted(ids[1:])]
    assert mails_hold(mail_ids=ids) == 3
    assert mails_cancel(mail_ids=ids, reason="cancelled") == 3
    assert states(ids)["r3@example.com"] == ("skipped", "cancelled")


def test_the_postmark_backend_merges_each_recipients_fields_into_one_batch_call(settings):
    """Postmark merges only stored templates: our subclass fills the fields in while Anymail
    builds the one /email/batch call."""
    from anymail.backends.postmark import EmailBackend

    from mailings.esp import PostmarkBatchBackend, _MergingPostmarkPayload

    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "t"}
    backend = PostmarkBatchBackend()
    assert isinstance(backend, EmailBackend)
    message = django_mail.EmailMultiAlternatives(
        subject="S", body="Leave: {{unsubscribe_url}}", from_email="a@example.com",
        to=["x@example.com", "y@example.com"],
    )  # fmt: skip
    message.attach_alternative('<a href="{{unsubscribe_url}}">Leave</a>', "text/html")
    message.merge_data = {}
    message.merge_fields = {"x@example.com": {"unsubscribe_url": "https://u/x"},
                            "y@example.com": {"unsubscribe_url": "https://u/y"}}  # fmt: skip
    message.merge_headers = {"x@example.com": {"List-Unsubscribe": "<https://u/x>"}}
    payload = backend.build_message_payload(message, backend.send_defaults)
    assert isinstance(payload, _MergingPostmarkPayload)
    assert payload.get_api_endpoint() == "email/batch"
    data = json.loads(payload.serialize_data())
    assert [m["TextBody"] for m in data] == ["Leave: https://u/x", "Leave: https://u/y"]
    assert data[1]["HtmlBody"] == '<a href="https://u/y">Leave</a>'
    assert data[0]["Headers"] == [{"Name": "List-Unsubscribe", "Value": "<https://u/x>"}]
    assert "TemplateModel" not in data[0]


# -- The shared limiter ---------------------------------------------------------------------


@pytest.fixture
def limiter(settings):
    import os

    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis")
    settings.REDIS_URL = os.environ["REDIS_URL"]
    ratelimit._client().delete("ch:mail-rate:test-esp")
    yield
    ratelimit._client().delete("ch:mail-rate:test-esp")


def test_the_limiter_spaces_batches_at_the_rate(limiter):
    take = ratelimit.send_rate_acquire
    assert take(esp="test-esp", cost=100, rate=100, burst=1.0) == 0.0  # within the burst
    wait = take(esp="test-esp", cost=100, rate=100, burst=1.0)
    assert 0.9 < wait <= 1.0  # the second second's worth waits its turn
    assert take(esp="test-esp", cost=100_000, rate=100, burst=1.0) is None  # not this minute


def test_the_limiter_is_off_at_rate_zero_and_fails_open_without_redis(settings):
    assert ratelimit.send_rate_acquire(esp="test-esp", cost=10, rate=0) == 0.0
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert ratelimit.send_rate_acquire(esp="test-esp", cost=10, rate=5) == 0.0
