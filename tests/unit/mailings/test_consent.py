"""mailings.consent: marketing mail is checked at the moment of sending and fails closed; a
withdrawal cancels the address's queued marketing mail; transactional mail never asks."""

from django.core import mail as django_mail

import pytest

from contacts.models import Contact, Subscription
from ebooks.services import ebook_request_create
from mailings import consent, services
from mailings.models import OutboundMail, Suppression
from tests.unit.contacts.conftest import ACTOR, SOURCE, make_subscription, subscribe
from tests.unit.ebooks.conftest import (  # noqa: F401 (fixtures)
    GUIDE,
    ebook_storage,
    fake_render,
    pdf_ready,
)

pytestmark = pytest.mark.django_db

MARKETING, TRANSACTIONAL = OutboundMail.Category.MARKETING, OutboundMail.Category.TRANSACTIONAL
Reason = OutboundMail.SkipReason


def queued(to: str, category: str = MARKETING) -> OutboundMail:
    """A QUEUED row whose send task is held back (the test's transaction never commits)."""
    return services.outbound_mail_create(
        to=to, template="test_notice", context={"name": "Ann"}, category=category
    )


def send(mail: OutboundMail) -> OutboundMail:
    services.mail_send(mail_id=mail.pk)
    mail.refresh_from_db()
    return mail


def refuse_all(*, emails):
    refuse_all.calls += 1
    return dict.fromkeys(emails, Reason.NOT_CONFIRMED)


# -- The check at send time ---------------------------------------------------------------------


def _unsubscribe(contact: Contact) -> None:
    Subscription.objects.filter(contact=contact).update(status=Subscription.Status.UNSUBSCRIBED)


def _bounce(contact: Contact) -> None:
    Subscription.objects.filter(contact=contact).update(status=Subscription.Status.BOUNCED)


def _suppress(contact: Contact) -> None:
    Suppression.objects.create(email_hash=contact.email_hash, reason=Suppression.Reason.BOUNCED)


def _erase(contact: Contact) -> None:
    contact.delete()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_unsubscribe, Reason.UNSUBSCRIBED),
        (_bounce, Reason.SUPPRESSED),
        (_suppress, Reason.SUPPRESSED),
        (_erase, Reason.ERASED),
    ],
)
def test_a_marketing_mail_is_skipped_when_consent_went_after_it_was_queued(change, reason):
    """Raw changes that bypass the cancel service: the check at send time alone stops it."""
    kept = queued("bob@example.com")
    make_subscription("bob@example.com", "confirmed")
    mail = queued("ann@example.com")
    change(make_subscription("ann@example.com", "confirmed").contact)

    assert services.mail_send(mail_id=mail.pk) == OutboundMail.Status.SKIPPED
    mail.refresh_from_db()
    assert (mail.status, mail.skip_reason, mail.last_error) == ("skipped", reason, "")
    assert mail.sent_at is None
    assert send(kept).status == OutboundMail.Status.SENT
    assert [m.to for m in django_mail.outbox] == [["bob@example.com"]]


def test_a_pending_subscriber_gets_no_marketing_mail():
    make_subscription("pat@example.com", "pending")
    mail = send(queued("pat@example.com"))
    assert (mail.status, mail.skip_reason) == ("skipped", Reason.NOT_CONFIRMED)
    assert django_mail.outbox == []


def test_without_a_consent_check_marketing_mail_fails_closed(monkeypatch):
    make_subscription("ann@example.com", "confirmed")
    monkeypatch.setattr(consent, "_gate", None)
    mail = send(queued("ann@example.com"))
    assert (mail.status, mail.skip_reason) == ("skipped", Reason.NO_CONSENT_CHECK)

    # A gate that leaves an address out of its answer refuses it too.
    monkeypatch.setattr(consent, "_gate", lambda *, emails: {})
    mail = send(queued("ann@example.com"))
    assert (mail.status, mail.skip_reason) == ("skipped", Reason.NO_CONSENT_CHECK)
    assert django_mail.outbox == []


def test_transactional_mail_never_asks_the_consent_check(
    monkeypatch,
    django_capture_on_commit_callbacks,
    pdf_ready,  # noqa: F811 (fixture)
):
    """Confirmation, eBook delivery and any other transactional mail go out whatever the
    gate would say (here: it refuses everyone); a suppressed address still gets nothing."""
    refuse_all.calls = 0
    monkeypatch.setattr(consent, "_gate", refuse_all)
    with django_capture_on_commit_callbacks(execute=True):
        subscribe("new@example.com")  # pending: the confirmation mail
        ebook_request_create(email="pdf@example.com", guide_slug=GUIDE, source=SOURCE, actor=ACTOR)
    services.suppression_add(email="gone@example.com", reason=Suppression.Reason.BOUNCED)
    blocked = send(queued("gone@example.com", TRANSACTIONAL))

    sent = OutboundMail.objects.filter(status=OutboundMail.Status.SENT)
    assert sorted(sent.values_list("template", flat=True)) == [
        "confirm_subscription",
        "ebook_delivery",
    ]
    assert blocked.status == OutboundMail.Status.SUPPRESSED
    assert refuse_all.calls == 0


# -- Cancelling queued marketing mail -----------------------------------------------------------


def test_cancel_skips_only_queued_marketing_mail_to_exactly_those_addresses():
    target = queued("ann@example.com")
    notice = queued("ann@example.com", TRANSACTIONAL)
    other = queued("bob@example.com")
    claimed = queued("ann@example.com")
    OutboundMail.objects.filter(pk=claimed.pk).update(status=OutboundMail.Status.SENDING)

    cancelled = consent.marketing_mails_cancel(
        emails=["ann@example.com", "ann@example.com"], reason=Reason.UNSUBSCRIBED
    )

    assert cancelled == 1
    statuses = dict(OutboundMail.objects.values_list("pk", "status"))
    assert statuses == {
        target.pk: "skipped",
        notice.pk: "queued",
        other.pk: "queued",
        claimed.pk: "sending",  # left to the check at send time
    }
    target.refresh_from_db()
    assert target.skip_reason == Reason.UNSUBSCRIBED
    assert consent.marketing_mails_cancel(emails=[], reason=Reason.UNSUBSCRIBED) == 0
