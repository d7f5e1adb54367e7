"""ESP tracking webhooks, end to end: sample payloads of four ESPs POSTed to Anymail's views.

The payloads in tests/data/esp/<esp>/ follow each ESP's documented webhook format (Postmark
webhooks, Mailgun JSON webhooks, the SendGrid Event Webhook, Amazon SES event publishing through
an SNS HTTPS subscription). They go through the real URLs, Anymail's basic-auth and signature
checks and parsers, the `tracking` signal and mailings.receivers, as an ESP would send them.

Security notes proven here: basic auth from ANYMAIL["WEBHOOK_SECRET"] (a rotation list) on every
ESP, plus Mailgun's HMAC signature. SendGrid's ECDSA signature check is not exercised (it needs
the `cryptography` package, which the project does not install). Anymail 15.2 does not verify
SNS message signatures at all (its code says "Future"), so for Amazon SES basic auth is the only
protection and there is no setting to turn off. Without boto3 (not installed: the project does
not send through SES) Anymail's SES view cannot even be constructed; the `_ses_without_boto3`
fixture stands in for the one boto3 helper its constructor calls.
"""

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core import mail as django_mail
from django.db import OperationalError

import pytest
from anymail.signals import AnymailTrackingEvent, tracking

from mailings.models import DeliveryEvent, OutboundMail, Suppression, email_hash
from tests.fixtures.mailings import make_mail

pytestmark = [
    pytest.mark.django_db,
    # Anymail warns on every SendGrid view instance that it no longer supports SendGrid.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

DATA = Path(__file__).resolve().parents[2] / "data" / "esp"
ESPS = ["postmark", "mailgun", "sendgrid", "amazon_ses"]
SECRETS = ["hook:secret", "hook2:newsecret"]
MAILGUN_SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
READER = "reader@example.com"


@pytest.fixture(autouse=True)
def _anymail_settings(settings):
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": list(SECRETS),
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY,
        # Never call AWS from a test (SubscriptionConfirmation would otherwise be confirmed).
        "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": False,
    }


@pytest.fixture(autouse=True)
def _ses_without_boto3(monkeypatch):
    """Anymail's SES views call a boto3 helper in __init__ (for SNS auto-confirm and inbound S3
    downloads, neither used here). Without boto3 installed, stand in for that helper only."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        monkeypatch.setattr(
            "anymail.webhooks.amazon_ses._get_anymail_boto3_params", lambda kwargs=None: ({}, {})
        )


# -- Building requests as each ESP sends them --------------------------------------------------


def load(esp: str, name: str) -> Any:
    return json.loads((DATA / esp / f"{name}.json").read_text())


def mailgun_sign(payload: dict, key: str = MAILGUN_SIGNING_KEY) -> dict:
    """Sign the stored token and timestamp the way Mailgun does (a replay is byte-identical)."""
    signature = payload["signature"]
    digest = hmac.new(
        key.encode(), f"{signature['timestamp']}{signature['token']}".encode(), hashlib.sha256
    ).hexdigest()
    return {**payload, "signature": {**signature, "signature": digest}}


def basic(auth: str) -> str:
    return "Basic " + base64.b64encode(auth.encode()).decode()


def post(
    client,
    esp: str,
    name: str | None = None,
    *,
    payload: Any = None,
    auth: str | None = SECRETS[0],
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
):
    """POST a stored payload (or `payload`, or raw `body`) to the ESP's tracking webhook."""
    if payload is None and name is not None:
        payload = load(esp, name)
    if esp == "mailgun" and payload is not None:
        payload = mailgun_sign(payload)
    if body is None:
        body = json.dumps(payload).encode()
    sent_headers: dict[str, str] = {}
    content_type = "application/json"
    if esp == "amazon_ses":
        # SNS posts text/plain and repeats the message type and id in headers.
        content_type = "text/plain; charset=UTF-8"
        if isinstance(payload, dict):
            sent_headers["x-amz-sns-message-type"] = payload.get("Type", "")
            sent_headers["x-amz-sns-message-id"] = payload.get("MessageId", "")
            sent_headers["x-amz-sns-topic-arn"] = payload.get("TopicArn", "")
    if auth is not None:
        sent_headers["Authorization"] = basic(auth)
    sent_headers.update(headers or {})
    return client.post(
        f"/anymail/{esp}/tracking/", data=body, content_type=content_type, headers=sent_headers
    )


def message_id(esp: str, name: str) -> str:
    """The message id in a stored payload, as the ESP's send API returned it to us."""
    payload = load(esp, name)
    if esp == "postmark":
        return payload["MessageID"]
    if esp == "mailgun":
        # Mailgun's send API answers with the id in angle brackets; events carry it bare.
        return f"<{payload['event-data']['message']['headers']['message-id']}>"
    if esp == "sendgrid":
        return payload[0]["anymail_id"]  # Anymail's own id, sent as a custom arg
    return json.loads(payload["Message"])["mail"]["messageId"]


def sent_mail(esp: str, name: str, *, to: str = READER) -> OutboundMail:
    """A mail to `to` that the ESP accepted under the payload's message id."""
    mail = make_mail(to=to)
    OutboundMail.objects.filter(pk=mail.pk).update(
        status=OutboundMail.Status.SENT, esp_message_id=message_id(esp, name)
    )
    mail.refresh_from_db()
    return mail


def suppression_for(email: str) -> Suppression | None:
    return Suppression.objects.filter(email_hash=email_hash(email)).first()


DELIVERED = {
    "postmark": "delivered",
    "mailgun": "delivered",
    "sendgrid": "delivered",
    "amazon_ses": "delivery",
}

#: (esp, payload, Suppression.Reason): every event that must suppress the address.
SUPPRESSING = [
    ("postmark", "hard_bounce", "bounced"),
    ("postmark", "spam_complaint", "complained"),
    ("postmark", "unsubscribe", "unsubscribed"),  # SubscriptionChange, SuppressSending
    ("postmark", "minimal_bounce", "bounced"),
    ("mailgun", "failed_permanent", "bounced"),
    ("mailgun", "failed_suppress_bounce", "bounced"),  # dropped: previously bounced
    ("mailgun", "complained", "complained"),
    ("mailgun", "unsubscribed", "unsubscribed"),
    ("sendgrid", "bounce", "bounced"),
    ("sendgrid", "dropped_bounced_address", "bounced"),  # rejected / bounced
    ("sendgrid", "dropped_spam_reporting", "complained"),  # rejected / spam
    ("sendgrid", "spamreport", "complained"),
    ("sendgrid", "unsubscribe", "unsubscribed"),
    ("sendgrid", "group_unsubscribe", "unsubscribed"),
    ("amazon_ses", "bounce_permanent", "bounced"),
    ("amazon_ses", "complaint", "complained"),  # recipient given as Reader@Example.com
    ("amazon_ses", "subscription_unsubscribe_all", "unsubscribed"),  # SES list management
]

#: (esp, payload, stored event type): soft bounces, deferrals and non-address rejections.
NOT_SUPPRESSING = [
    ("postmark", "soft_bounce", "bounced"),
    ("postmark", "transient", "deferred"),
    ("mailgun", "failed_temporary", "deferred"),
    ("mailgun", "rejected", "rejected"),  # sandbox domain: about us, not the address
    ("sendgrid", "deferred", "deferred"),
    ("sendgrid", "blocked", "bounced"),  # a block (e.g. our IP listed), not a bad address
    ("amazon_ses", "bounce_transient", "bounced"),
    ("amazon_ses", "delivery_delay", "deferred"),
    ("amazon_ses", "reject", "rejected"),  # virus/content rejection
]

ALL_PAYLOADS = sorted((p.parent.name, p.stem) for p in DATA.glob("*/*.json"))


# -- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize(
    "auth", [None, "hook:wrong", "intruder:secret", "hook:secret-but-longer", ""], ids=repr
)
def test_wrong_or_missing_basic_auth_is_refused_and_nothing_is_stored(client, esp, auth):
    response = post(client, esp, DELIVERED[esp], auth=auth)
    # SNS needs a 401 challenge before it sends credentials; every other refusal is a 400.
    expected = 401 if esp == "amazon_ses" and auth is None else 400
    assert response.status_code == expected
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("esp", ESPS)
def test_a_malformed_authorization_header_is_a_400(client, esp):
    response = post(client, esp, DELIVERED[esp], auth=None, headers={"Authorization": "Basic %%%"})
    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("secret", SECRETS)
def test_both_secrets_of_the_rotation_list_are_accepted(client, esp, secret):
    response = post(client, esp, DELIVERED[esp], auth=secret)
    assert response.status_code == 200
    assert DeliveryEvent.objects.filter(event_type="delivered").count() == 1


def test_mailgun_refuses_a_bad_signature_even_with_the_right_basic_auth(client):
    forged = mailgun_sign(load("mailgun", "failed_permanent"), key="not-the-signing-key")
    body = json.dumps(forged).encode()
    # `post` would re-sign with the right key: send the forged body as it is.
    response = post(client, "mailgun", body=body)
    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0
    assert suppression_for(READER) is None


def test_mailgun_refuses_a_payload_without_a_signature_block(client):
    payload = load("mailgun", "failed_permanent")
    del payload["signature"]
    response = post(client, "mailgun", body=json.dumps(payload).encode())
    assert response.status_code == 400
    assert suppression_for(READER) is None


def test_ses_refuses_sns_headers_that_do_not_match_the_body(client):
    response = post(
        client,
        "amazon_ses",
        "bounce_permanent",
        headers={"x-amz-sns-message-id": "00000000-0000-0000-0000-000000000000"},
    )
    assert response.status_code == 400
    assert suppression_for(READER) is None


def test_ses_subscription_confirmation_is_not_auto_confirmed_and_stores_nothing(client):
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425f004aed4a6d4b",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:chapterhouse-ses-events",
        "Message": "You have chosen to subscribe to the topic ...",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&...",
        "Timestamp": "2026-03-01T12:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
    }
    response = post(client, "amazon_ses", payload=confirmation)
    assert response.status_code == 200
    assert DeliveryEvent.objects.count() == 0


# -- Delivery status ---------------------------------------------------------------------------


@pytest.mark.parametrize("esp", ESPS)
def test_delivered_updates_the_delivery_status_of_the_matching_mail(client, esp):
    mail = sent_mail(esp, DELIVERED[esp])
    other = sent_mail(esp, DELIVERED[esp], to="someone.else@example.com")
    OutboundMail.objects.filter(pk=other.pk).update(esp_message_id="another-message")

    assert post(client, esp, DELIVERED[esp]).status_code == 200

    mail.refresh_from_db()
    other.refresh_from_db()
    assert mail.delivery_status == "delivered"
    assert mail.status == OutboundMail.Status.SENT  # the ESP's report never rewrites our status
    assert other.delivery_status == ""
    event = DeliveryEvent.objects.get()
    assert event.mail == mail
    assert event.event_type == "delivered"
    assert event.recipient_hash == email_hash(READER)
    assert event.occurred_at is not None
    assert suppression_for(READER) is None


def test_mailgun_events_match_a_mail_stored_with_or_without_angle_brackets(client):
    mail = sent_mail("mailgun", "delivered")
    bare = mail.esp_message_id.strip("<>")
    OutboundMail.objects.filter(pk=mail.pk).update(esp_message_id=bare)
    post(client, "mailgun", "delivered")
    mail.refresh_from_db()
    assert mail.delivery_status == "delivered"


def test_an_older_event_arriving_late_does_not_overwrite_a_newer_status():
    mail = make_mail()
    OutboundMail.objects.filter(pk=mail.pk).update(esp_message_id="msg-1")

    def send(event_type: str, hour: int, event_id: str) -> None:
        event = AnymailTrackingEvent(
            event_type=event_type,
            event_id=event_id,
            message_id="msg-1",
            recipient=READER,
            timestamp=datetime(2026, 3, 2, hour, tzinfo=UTC),
            esp_event={},
        )
        tracking.send(sender=object, event=event, esp_name="Postmark")

    send("delivered", 10, "e-2")
    send("deferred", 9, "e-1")  # happened first, reported last
    send("queued", 11, "e-0")  # a pre-delivery step never becomes the delivery status
    mail.refresh_from_db()
    assert mail.delivery_status == "delivered"
    send("opened", 12, "e-3")
    mail.refresh_from_db()
    assert mail.delivery_status == "opened"


# -- Suppression -------------------------------------------------------------------------------


@pytest.mark.parametrize(("esp", "name", "reason"), SUPPRESSING)
def test_suppressing_events_suppress_the_address_for_good(
    client, django_capture_on_commit_callbacks, esp, name, reason
):
    waiting = make_mail(to=READER, category=OutboundMail.Category.MARKETING)  # send held back
    assert post(client, esp, name).status_code == 200

    waiting.refresh_from_db()  # a queued marketing mail is cancelled with the suppression
    assert (waiting.status, waiting.skip_reason) == ("skipped", "suppressed")
    suppression = suppression_for(READER)
    assert suppression is not None, f"{esp} {name} must suppress the address"
    assert suppression.reason == reason
    assert esp.replace("_", " ").lower() in suppression.detail.lower()

    # Monotonic: a later delivery to the same address (another mail) never lifts it.
    assert post(client, esp, DELIVERED[esp]).status_code == 200
    assert suppression_for(READER) == suppression
    assert Suppression.objects.count() == 1

    # The next mail to that address is not sent.
    with django_capture_on_commit_callbacks(execute=True):
        mail = make_mail(to=READER)
    mail.refresh_from_db()
    assert mail.status == OutboundMail.Status.SUPPRESSED
    assert django_mail.outbox == []


@pytest.mark.parametrize(("esp", "name", "event_type"), NOT_SUPPRESSING)
def test_soft_bounces_deferrals_and_other_rejections_do_not_suppress(
    client, django_capture_on_commit_callbacks, esp, name, event_type
):
    mail = sent_mail(esp, name)
    assert post(client, esp, name).status_code == 200

    event = DeliveryEvent.objects.get()
    assert event.event_type == event_type
    assert event.mail == mail
    assert suppression_for(READER) is None
    with django_capture_on_commit_callbacks(execute=True):
        next_mail = make_mail(to=READER)
    next_mail.refresh_from_db()
    assert next_mail.status == OutboundMail.Status.SENT
    assert len(django_mail.outbox) == 1


def test_a_resubscribe_at_the_esp_does_not_lift_a_suppression(client):
    post(client, "postmark", "unsubscribe")
    assert post(client, "postmark", "resubscribe").status_code == 200
    assert suppression_for(READER).reason == Suppression.Reason.UNSUBSCRIBED
    assert list(DeliveryEvent.objects.values_list("event_type", flat=True).order_by("pk")) == [
        "unsubscribed",
        "subscribed",
    ]


def test_a_later_bounce_does_not_replace_an_earlier_suppression_reason(client):
    post(client, "sendgrid", "spamreport")
    post(client, "sendgrid", "bounce")
    assert suppression_for(READER).reason == Suppression.Reason.COMPLAINED


def test_ses_notification_for_two_recipients_stores_and_suppresses_both(client):
    for _ in range(2):  # and a replay adds nothing
        assert post(client, "amazon_ses", "bounce_two_recipients").status_code == 200
    assert DeliveryEvent.objects.count() == 2
    assert suppression_for("gone.one@example.com").reason == Suppression.Reason.BOUNCED
    assert suppression_for("gone.two@example.com").reason == Suppression.Reason.BOUNCED


def test_sendgrid_batch_applies_each_event_on_its_own(client):
    delivered_to = "second.reader@example.org"
    mail = make_mail(to=delivered_to)
    OutboundMail.objects.filter(pk=mail.pk).update(
        esp_message_id="f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"
    )
    assert post(client, "sendgrid", "batch").status_code == 200
    assert sorted(DeliveryEvent.objects.values_list("event_type", flat=True)) == [
        "complained",
        "delivered",
        "opened",
        "queued",
    ]
    mail.refresh_from_db()
    assert mail.delivery_status == "opened"
    assert suppression_for(delivered_to) is None
    assert suppression_for("third.reader@example.net").reason == Suppression.Reason.COMPLAINED


# -- Replays, odd and broken input -------------------------------------------------------------


@pytest.mark.parametrize(("esp", "name"), ALL_PAYLOADS)
def test_every_sample_is_accepted_once_and_a_replay_is_a_no_op(client, caplog, esp, name):
    caplog.set_level(logging.ERROR)
    first = post(client, esp, name)
    events = DeliveryEvent.objects.count()
    suppressions = list(Suppression.objects.values_list("email_hash", "reason", "created_at"))
    second = post(client, esp, name)

    assert (first.status_code, second.status_code) == (200, 200)
    assert events >= 1
    assert DeliveryEvent.objects.count() == events
    assert list(Suppression.objects.values_list("email_hash", "reason", "created_at")) == (
        suppressions
    )
    # The receiver swallows errors so the ESP never retries forever: prove none happened.
    assert not [r for r in caplog.records if r.name.startswith("mailings")]


@pytest.mark.parametrize(
    ("esp", "name"),
    [
        ("postmark", "unknown_record_type"),
        ("mailgun", "unknown_event"),
        ("sendgrid", "unknown_event"),
        ("amazon_ses", "unknown_event_type"),
    ],
)
def test_an_unknown_event_type_is_stored_as_unknown_and_changes_nothing(client, esp, name):
    mail = sent_mail(esp, DELIVERED[esp])
    OutboundMail.objects.filter(pk=mail.pk).update(delivery_status="delivered")
    assert post(client, esp, name).status_code == 200
    assert DeliveryEvent.objects.get().event_type == "unknown"
    mail.refresh_from_db()
    assert mail.delivery_status == "delivered"
    assert Suppression.objects.count() == 0


@pytest.mark.parametrize(
    ("esp", "name"),
    [
        ("postmark", "minimal_bounce"),
        ("mailgun", "minimal_delivered"),
        ("sendgrid", "minimal_delivered"),
        ("amazon_ses", "minimal_delivery"),
    ],
)
def test_a_payload_without_optional_fields_is_accepted(client, esp, name):
    assert post(client, esp, name).status_code == 200
    event = DeliveryEvent.objects.get()
    assert event.mail is None
    assert event.event_id  # a stable key even without ESP ids or timestamps


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("body", [b"{not json", b""], ids=["garbage", "empty"])
def test_malformed_json_without_valid_auth_is_refused(client, esp, body):
    if esp == "amazon_ses":
        # SNS semantics: no credentials -> a 401 challenge.
        assert post(client, esp, body=body, auth=None).status_code == 401
    else:
        assert post(client, esp, body=body, auth="hook:wrong").status_code == 400
    assert DeliveryEvent.objects.count() == 0


@pytest.mark.parametrize("esp", ["mailgun", "postmark", "sendgrid", "amazon_ses"])
@pytest.mark.parametrize("body", [b"{not json", b""], ids=["garbage", "empty"])
def test_malformed_json_with_valid_auth_is_a_400_not_a_500(esp, body):
    # Anymail 15.2 lets some parse errors escape its views; mailings.webhooks guards them.
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = post(client, esp, body=body)
    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0


def test_ses_malformed_body_with_wrong_auth_is_a_400_not_a_500():
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = post(
        client,
        "amazon_ses",
        body=b"{not json",
        auth="hook:wrong",
        headers={"x-amz-sns-message-type": "Notification"},
    )
    assert response.status_code == 400


# -- The receiver itself -----------------------------------------------------------------------


def test_the_receiver_survives_an_event_with_odd_values():
    event = AnymailTrackingEvent(
        event_type=None,
        event_id=None,
        message_id=12345,
        recipient="  Odd@Example.COM ",
        timestamp=datetime(2026, 3, 2, 9, 0, tzinfo=UTC).replace(tzinfo=None),  # naive -> UTC
        reject_reason=None,
        esp_event=object(),
    )
    tracking.send(sender=object, event=event, esp_name="SomeNewESP")
    tracking.send(sender=object, event=event, esp_name="SomeNewESP")
    stored = DeliveryEvent.objects.get()
    assert stored.event_type == "unknown"
    assert stored.recipient_hash == email_hash("odd@example.com")
    assert stored.occurred_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_bug_in_recording_is_logged_and_the_esp_still_gets_200(client, monkeypatch, caplog):
    def broken(**kwargs):
        raise ValueError("unexpected payload shape")

    monkeypatch.setattr("mailings.receivers.delivery_event_record", broken)
    response = post(client, "postmark", "hard_bounce")
    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "mailings.receivers"]
    assert record.levelno == logging.ERROR
    assert READER not in record.getMessage()  # no address in the log line


def test_an_unreachable_database_is_a_500_so_the_esp_retries(monkeypatch):
    from django.test import Client

    def down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("mailings.receivers.delivery_event_record", down)
    client = Client(raise_request_exception=False)
    response = post(client, "postmark", "hard_bounce")
    assert response.status_code == 500
