"""contacts.services: signup in every state, cooldown, ledger, attribution, confirm, unsubscribe."""

import hashlib

from django.core import mail
from django.core.cache import cache

import pytest

from contacts import consent, services
from contacts.models import ConsentEvent, Contact, Subscription
from contacts.services import Actor, ConfirmOutcome, SignupOutcome, Source
from mailings.models import OutboundMail, Suppression, email_hash
from mailings.services import suppression_add
from tests.unit.contacts.conftest import ACTOR, age_cooldown, make_subscription, subscribe

pytestmark = pytest.mark.django_db

Status = Subscription.Status


def mails(template: str | None = None) -> list[OutboundMail]:
    rows = OutboundMail.objects.order_by("pk")
    return list(rows.filter(template=template) if template else rows)


# -- Signup ------------------------------------------------------------------------------------


def test_new_address_gets_a_contact_a_pending_subscription_a_ledger_row_and_one_mail(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        outcome = subscribe("Ann.Lee@example.com")
    assert outcome == SignupOutcome.CONFIRMATION_SENT
    contact = Contact.objects.get()
    assert contact.email == "Ann.Lee@example.com"
    assert contact.email_hash == email_hash("ann.lee@example.com")
    sub = contact.subscription
    assert sub.status == Status.PENDING
    assert sub.last_confirmation_sent_at is not None
    [row] = mails()
    assert (row.template, row.category, row.to_email) == (
        "confirm_subscription", OutboundMail.Category.TRANSACTIONAL, "Ann.Lee@example.com",
    )  # fmt: skip
    assert row.unsubscribe_url == ""
    assert row.context["confirm_url"].startswith("http://testserver/s/confirm/")
    assert row.status == OutboundMail.Status.SENT  # eager send ran after commit
    [message] = mail.outbox
    assert message.subject == "Confirm your subscription to Chapterhouse"
    assert row.context["confirm_url"] in message.body
    assert "List-Unsubscribe" not in message.extra_headers


def test_signup_records_consent_with_version_and_hash_of_the_exact_text():
    subscribe("ann@example.com")
    [event] = ConsentEvent.objects.all()
    text = consent.CONSENT_TEXTS[consent.CURRENT_VERSION]
    assert event.event == ConsentEvent.Event.SIGNUP
    assert event.consent_version == consent.CURRENT_VERSION
    assert event.consent_text_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert (event.ip, event.user_agent, event.form_name, event.page_path) == (
        "203.0.113.7", "pytest", "inline", "/g/c/",
    )  # fmt: skip
    assert event.occurred_at.utcoffset().total_seconds() == 0


def test_attribution_is_stored_on_the_subscription():
    source = Source(
        guide_slug="modern-product-management", chapter_number=5, form_name="inline",
        page_path="/modern-product-management/roadmaps/", referrer="https://news.example.org/x",
        utm_source="newsletter", utm_medium="email", utm_campaign="spring", utm_term="pm",
        utm_content="cta",
    )  # fmt: skip
    subscribe("ann@example.com", source=source)
    sub = Subscription.objects.get()
    assert (sub.guide_slug, sub.chapter_number, sub.form_name) == (
        "modern-product-management", 5, "inline",
    )  # fmt: skip
    assert sub.page_path == "/modern-product-management/roadmaps/"
    assert sub.referrer == "https://news.example.org/x"
    assert (sub.utm_source, sub.utm_medium, sub.utm_campaign, sub.utm_term, sub.utm_content) == (
        "newsletter", "email", "spring", "pm", "cta",
    )  # fmt: skip


def test_case_variants_of_one_address_are_one_contact():
    subscribe("Ann@example.com")
    subscribe("ANN@example.com")
    assert Contact.objects.count() == 1
    assert Contact.objects.get().email == "Ann@example.com"  # the first spelling is kept


def test_every_tag_and_case_variant_of_an_inbox_shares_its_hash_and_old_rows_get_it():
    from importlib import import_module

    from django.apps import apps

    for email in ("Ann@Example.com", "ann+news@example.com", "ANN+x@EXAMPLE.COM"):
        subscribe(email)
    subscribe("anne@example.com")
    hashes = dict(Contact.objects.values_list("email", "inbox_hash"))
    assert len({hashes["Ann@Example.com"], hashes["ann+news@example.com"]}) == 1
    assert hashes["ANN+x@EXAMPLE.COM"] == hashes["Ann@Example.com"]
    assert hashes["anne@example.com"] != hashes["Ann@Example.com"]

    Contact.objects.update(inbox_hash="")  # contacts stored before the column existed
    migration = import_module("contacts.migrations.0006_contact_inbox_hash")
    migration.fill_inbox_hash(apps, None)
    assert dict(Contact.objects.values_list("email", "inbox_hash")) == hashes


def test_pending_address_within_the_cooldown_gets_no_second_mail():
    subscribe("ann@example.com")
    assert subscribe("ann@example.com") == SignupOutcome.THROTTLED
    assert len(mails("confirm_subscription")) == 1
    assert ConsentEvent.objects.filter(event="signup").count() == 2  # each consent is recorded


def test_pending_address_after_the_cooldown_gets_a_new_mail():
    sub = make_subscription("ann@example.com")
    age_cooldown(sub)
    assert subscribe("ann@example.com") == SignupOutcome.CONFIRMATION_SENT
    assert len(mails("confirm_subscription")) == 2


def test_confirmed_address_gets_nothing():
    make_subscription("ann@example.com", "confirmed")
    before = (mails(), ConsentEvent.objects.count())
    assert subscribe("ann@example.com") == SignupOutcome.ALREADY_CONFIRMED
    assert (mails(), ConsentEvent.objects.count()) == before
    assert Subscription.objects.get().status == Status.CONFIRMED


def test_unsubscribed_address_starts_a_new_pending_cycle_with_new_attribution():
    sub = make_subscription("ann@example.com", "unsubscribed")
    age_cooldown(sub)
    source = Source(guide_slug="product-discovery", chapter_number=2, form_name="footer")
    assert subscribe("ann@example.com", source=source) == SignupOutcome.CONFIRMATION_SENT
    sub.refresh_from_db()
    assert sub.status == Status.PENDING
    assert (sub.guide_slug, sub.chapter_number, sub.form_name) == ("product-discovery", 2, "footer")
    latest = mails("confirm_subscription")[-1]
    assert f".{sub.token_generation}" not in latest.context["confirm_url"]  # signed, not plain


@pytest.mark.parametrize("reason", ["bounced", "complained", "manual", "erased"])
def test_suppressed_address_gets_no_mail_and_no_consent_row(reason):
    suppression_add(email="ann@example.com", reason=reason)
    assert subscribe("ann@example.com") == SignupOutcome.BLOCKED
    assert mails() == []
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("status", ["bounced", "complained", "suppressed"])
def test_blocked_subscription_is_not_reopened_by_a_signup(status):
    sub = make_subscription("ann@example.com", status)
    age_cooldown(sub)
    count = len(mails())
    assert subscribe("ann@example.com") == SignupOutcome.BLOCKED
    sub.refresh_from_db()
    assert sub.status == status
    assert len(mails()) == count


def test_unknown_consent_version_is_refused_by_the_service():
    with pytest.raises(KeyError):
        subscribe("ann@example.com", consent_version="1999-01")
    assert not Contact.objects.exists()


# -- Confirm -----------------------------------------------------------------------------------


def test_confirm_sets_confirmed_records_consent_and_queues_a_marketing_welcome(
    django_capture_on_commit_callbacks,
):
    sub = make_subscription("ann@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.subscription_confirm(
            subscription_id=sub.pk, generation=sub.token_generation, actor=ACTOR
        )
    assert outcome == ConfirmOutcome.CONFIRMED
    sub.refresh_from_db()
    assert sub.status == Status.CONFIRMED
    assert sub.confirmed_at is not None
    assert ConsentEvent.objects.filter(event="confirm").count() == 1
    [welcome] = mails("welcome")
    assert welcome.category == OutboundMail.Category.MARKETING
    assert welcome.unsubscribe_url.startswith("http://testserver/s/unsubscribe/")
    [message] = mail.outbox
    assert message.extra_headers["List-Unsubscribe"] == f"<{welcome.unsubscribe_url}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome.unsubscribe_url in message.body


def test_confirm_is_idempotent():
    sub = make_subscription("ann@example.com")
    args = {"subscription_id": sub.pk, "generation": sub.token_generation, "actor": ACTOR}
    assert services.subscription_confirm(**args) == ConfirmOutcome.CONFIRMED
    assert services.subscription_confirm(**args) == ConfirmOutcome.ALREADY_CONFIRMED
    assert len(mails("welcome")) == 1
    assert ConsentEvent.objects.filter(event="confirm").count() == 1


def test_confirm_with_an_old_generation_after_unsubscribe_does_not_resubscribe():
    sub = make_subscription("ann@example.com")
    old_generation = sub.token_generation
    services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR)
    outcome = services.subscription_confirm(
        subscription_id=sub.pk, generation=old_generation, actor=ACTOR
    )
    assert outcome == ConfirmOutcome.STALE
    assert Subscription.objects.get().status == Status.UNSUBSCRIBED


def test_confirm_drops_the_cached_count_label(django_capture_on_commit_callbacks):
    sub = make_subscription("ann@example.com")
    cache.set(services.COUNT_LABEL_CACHE_KEY, "stale", 60)
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_confirm(
            subscription_id=sub.pk, generation=sub.token_generation, actor=ACTOR
        )
    assert cache.get(services.COUNT_LABEL_CACHE_KEY) is None


def test_confirm_of_a_missing_subscription_raises_not_found():
    with pytest.raises(services.SubscriptionNotFoundError):
        services.subscription_confirm(subscription_id=999_999, generation=1, actor=ACTOR)


# -- Unsubscribe -------------------------------------------------------------------------------


def test_unsubscribe_is_idempotent_bumps_the_generation_and_records_once():
    sub = make_subscription("ann@example.com", "confirmed")
    generation = sub.token_generation
    assert services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR) is True
    assert services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR) is False
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED
    assert sub.unsubscribed_at is not None
    assert sub.token_generation == generation + 1
    assert ConsentEvent.objects.filter(event="unsubscribe").count() == 1


def test_unsubscribe_of_a_bounced_subscription_keeps_the_block_but_records_withdrawal():
    sub = make_subscription("ann@example.com", "confirmed")
    Subscription.objects.filter(pk=sub.pk).update(status=Status.BOUNCED)
    assert services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR) is True
    assert services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR) is False
    sub.refresh_from_db()
    assert sub.status == Status.BOUNCED
    # Lifting the bounce later must not re-subscribe someone who withdrew consent.
    services.contact_suppression_lift(contact_id=sub.contact_id, actor=ACTOR)
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("withdraw", "reason"),
    [
        (lambda sub: services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR),
         "unsubscribed"),
        (lambda sub: services.contact_suppress(contact_id=sub.contact_id, actor=ACTOR),
         "suppressed"),
    ],
)  # fmt: skip
def test_withdrawing_consent_skips_the_queued_marketing_mail_in_the_same_transaction(
    withdraw, reason
):
    # The test's transaction never commits: every mail below is still QUEUED.
    sub = make_subscription("ann@example.com", "confirmed")
    make_subscription("bob@example.com", "confirmed")
    withdraw(sub)
    state = {
        (m.to_email, m.template): (m.status, m.skip_reason) for m in OutboundMail.objects.all()
    }
    assert state == {
        ("ann@example.com", "confirm_subscription"): ("queued", ""),  # transactional
        ("ann@example.com", "welcome"): ("skipped", reason),
        ("bob@example.com", "confirm_subscription"): ("queued", ""),
        ("bob@example.com", "welcome"): ("queued", ""),
    }


# -- Admin services ----------------------------------------------------------------------------


def test_suppress_blocks_the_subscription_and_adds_a_global_suppression():
    sub = make_subscription("ann@example.com", "confirmed")
    admin = Actor(detail="admin root: Suppress")
    assert services.contact_suppress(contact_id=sub.contact_id, actor=admin) is True
    sub.refresh_from_db()
    assert sub.status == Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.MANUAL
    assert ConsentEvent.objects.filter(event="admin", detail="admin root: Suppress").exists()


def test_lifting_a_suppression_restores_an_earlier_confirmation_only():
    sub = make_subscription("ann@example.com", "confirmed")
    services.contact_suppress(contact_id=sub.contact_id, actor=ACTOR)
    assert services.contact_suppression_lift(contact_id=sub.contact_id, actor=ACTOR) is True
    sub.refresh_from_db()
    assert sub.status == Status.CONFIRMED
    assert not Suppression.objects.exists()

    pending = make_subscription("bob@example.com", "suppressed")
    services.contact_suppression_lift(contact_id=pending.contact_id, actor=ACTOR)
    pending.refresh_from_db()
    assert pending.status == Status.UNSUBSCRIBED  # never confirmed: lifting creates no consent


def test_resend_confirmation_respects_status_and_cooldown():
    sub = make_subscription("ann@example.com")
    assert services.subscription_confirmation_resend(subscription_id=sub.pk, actor=ACTOR) is False
    age_cooldown(sub)
    assert services.subscription_confirmation_resend(subscription_id=sub.pk, actor=ACTOR) is True
    assert len(mails("confirm_subscription")) == 2
    confirmed = make_subscription("bob@example.com", "confirmed")
    age_cooldown(confirmed)
    assert (
        services.subscription_confirmation_resend(subscription_id=confirmed.pk, actor=ACTOR)
        is False
    )


# -- Ledger ------------------------------------------------------------------------------------


def test_consent_ledger_is_append_only():
    subscribe("ann@example.com")
    event = ConsentEvent.objects.get()
    event.detail = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        ConsentEvent.objects.update(detail="x")
    with pytest.raises(TypeError):
        ConsentEvent.objects.all().delete()
    assert ConsentEvent.objects.get().detail == ""


# -- Background maintenance --------------------------------------------------------------------


def test_purge_deletes_old_unconfirmed_signups_with_their_ips_and_keeps_the_rest():
    from datetime import timedelta

    from django.utils import timezone

    old = make_subscription("old@example.com")
    fresh = make_subscription("fresh@example.com")
    confirmed = make_subscription("kept@example.com", "confirmed")
    long_ago = timezone.now() - timedelta(days=31)
    Subscription.objects.filter(pk__in=[old.pk, confirmed.pk]).update(requested_at=long_ago)
    suppression_add(email="old@example.com", reason="bounced")

    assert services.contacts_purge_unconfirmed() == 1
    assert set(Contact.objects.values_list("email", flat=True)) == {
        "fresh@example.com", "kept@example.com",
    }  # fmt: skip
    assert not ConsentEvent.objects.filter(contact_id=old.contact_id).exists()
    assert Suppression.objects.filter(email_hash=email_hash("old@example.com")).exists()
    assert fresh.pk


def test_sync_marks_bounced_and_complained_from_the_suppression_list():
    bounced = make_subscription("b@example.com", "confirmed")
    complained = make_subscription("c@example.com")
    fine = make_subscription("f@example.com", "confirmed")
    suppression_add(email="b@example.com", reason="bounced")
    suppression_add(email="c@example.com", reason="complained")
    assert services.subscriptions_sync_suppressions() == 2
    statuses = dict(Subscription.objects.values_list("pk", "status"))
    assert statuses == {
        bounced.pk: Status.BOUNCED, complained.pk: Status.COMPLAINED, fine.pk: Status.CONFIRMED,
    }  # fmt: skip
    assert services.subscriptions_sync_suppressions() == 0


def test_a_new_signup_costs_a_handful_of_queries(django_assert_max_num_queries):
    # 12: the +tag-variant cooldown check and (PostgreSQL) the inbox advisory lock come on top.
    # suppression check, contact insert + select, subscription insert + select for update,
    # one update, ledger insert, mail insert (+ the savepoint pair of the test transaction).
    with django_assert_max_num_queries(12):
        subscribe("budget@example.com")
