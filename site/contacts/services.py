"""Newsletter rules: signup with double opt-in, confirm, unsubscribe, admin actions, retention.

Every public entry point owns its transaction (`atomic(durable=True)`), takes keyword-only
arguments, and writes the consent ledger in the same transaction as the state change. Mail
goes through mailings.services.outbound_mail_create (a row now, the send after commit).
Nothing here logs an address in clear or a token.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from contacts import consent as consent_texts
from contacts.models import ConsentEvent, Contact, Subscription
from core.attribution import Source
from core.emailaddr import inbox_lock
from core.exceptions import AppError
from core.intake import submission_accept
from core.models import FormSubmission
from core.signing import make_token
from mailings.consent import marketing_mails_cancel
from mailings.models import OutboundMail, Suppression
from mailings.services import outbound_mail_create, suppression_add, suppression_check
from mailings.services import suppression_lift as mailings_suppression_lift

logger = logging.getLogger(__name__)

CONFIRM_PURPOSE = "contacts.confirm"
UNSUBSCRIBE_PURPOSE = "contacts.unsubscribe"
#: The cache key of the "Join N+" label (contacts.selectors); dropped after a confirmation.
COUNT_LABEL_CACHE_KEY = "contacts:count-label:v1"


@dataclass(frozen=True)
class Actor:
    """Who did it and through what, for the consent ledger."""

    ip: str | None = None
    user_agent: str = ""
    page_path: str = ""
    form_name: str = ""
    #: One-click, page, or the admin user and action.
    detail: str = ""


class SignupOutcome(StrEnum):
    """What contact_subscribe did. Never shown to the visitor (the answer is always the same)."""

    CONFIRMATION_SENT = "confirmation_sent"
    THROTTLED = "throttled"
    ALREADY_CONFIRMED = "already_confirmed"
    BLOCKED = "blocked"


class ConfirmOutcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    #: The link's generation is over (unsubscribed since), or the subscription is blocked.
    STALE = "stale"


class SubscriptionNotFoundError(AppError):
    """No subscription with that id (never existed, purged, or erased)."""


# -- Links -----------------------------------------------------------------------------------


def confirm_token_make(*, subscription: Subscription) -> str:
    """A signed link token bound to the subscription id and its current generation."""
    return make_token(CONFIRM_PURPOSE, f"{subscription.pk}.{subscription.token_generation}")


def unsubscribe_token_make(*, subscription_id: int) -> str:
    """A signed, non-expiring token holding only the subscription id."""
    return make_token(UNSUBSCRIBE_PURPOSE, subscription_id)


def confirm_url(*, subscription: Subscription) -> str:
    token = confirm_token_make(subscription=subscription)
    return settings.SITE_URL + reverse("contacts:confirm", args=[token])


def unsubscribe_url(*, subscription_id: int) -> str:
    token = unsubscribe_token_make(subscription_id=subscription_id)
    return settings.SITE_URL + reverse("contacts:unsubscribe", args=[token])


# -- Building blocks (inside a caller's transaction) -------------------------------------------


def _contact_get_or_create(*, email: str) -> Contact:
    """The contact for a normalized address; concurrent creators end up with the same row.

    INSERT ... ON CONFLICT DO NOTHING (no conflict target, so it covers both unique
    constraints) waits for a concurrent insert of the same address to commit or roll back and
    never raises, so no savepoint is needed; the SELECT then sees the committed row.
    """
    contact = Contact.for_address(email)
    Contact.objects.bulk_create([contact], ignore_conflicts=True)
    return Contact.objects.get(email_hash=contact.email_hash)


def _subscription_lock(*, contact: Contact, source: Source) -> Subscription:
    """The contact's subscription row, created if missing (same pattern), locked FOR UPDATE."""
    Subscription.objects.bulk_create(
        [Subscription(contact=contact, **source.model_fields())], ignore_conflicts=True
    )
    return Subscription.objects.select_for_update().get(contact=contact)


def _consent_record(
    *,
    contact: Contact,
    event: str,
    actor: Actor,
    consent_version: str = "",
    occurred_at: datetime | None = None,
) -> ConsentEvent:
    return ConsentEvent.objects.create(
        contact=contact,
        event=event,
        occurred_at=occurred_at or timezone.now(),
        ip=actor.ip,
        user_agent=actor.user_agent[:300],
        form_name=actor.form_name[:40],
        page_path=actor.page_path[:500],
        consent_version=consent_version,
        consent_text_sha256=consent_texts.consent_hash(consent_version) if consent_version else "",
        detail=actor.detail[:200],
    )


def _cooldown_over(subscription: Subscription) -> bool:
    sent = subscription.last_confirmation_sent_at
    cooldown = timedelta(seconds=settings.CONTACTS_CONFIRMATION_COOLDOWN)
    return sent is None or timezone.now() - sent >= cooldown


def _inbox_recently_confirmed(*, subscription: Subscription, now: datetime) -> bool:
    """Did another +tag variant of this inbox get a confirmation mail within the cooldown?"""
    since = now - timedelta(seconds=settings.CONTACTS_CONFIRMATION_COOLDOWN)
    return (
        Subscription.objects.filter(
            contact__inbox_hash=subscription.contact.inbox_hash,
            last_confirmation_sent_at__gte=since,
        )
        .exclude(pk=subscription.pk)
        .exists()
    )


def _confirmation_mail_create(*, subscription: Subscription) -> OutboundMail:
    """Queue the confirmation mail (the caller holds the row lock and starts the cooldown)."""
    return outbound_mail_create(
        to=subscription.contact.email,
        template="confirm_subscription",
        context={
            "confirm_url": confirm_url(subscription=subscription),
            "expires_days": max(1, settings.CONTACTS_CONFIRM_MAX_AGE // 86400),
        },
        category=OutboundMail.Category.TRANSACTIONAL,
    )


def _count_label_forget() -> None:
    try:
        cache.delete(COUNT_LABEL_CACHE_KEY)
    except Exception:  # the label then refreshes when its TTL runs out
        logger.warning("could not drop the subscriber count label from the cache")


# -- Signup ------------------------------------------------------------------------------------


SIGNUP_KIND = "newsletter_signup"


def signup_accept(*, email: str, consent_version: str, source: Source, actor: Actor) -> None:
    """Accept a signup from the public form: one stored row, acted on by a worker.

    The caller has validated the address (normalize_email), the ticked consent box and the
    consent version, and answers the visitor the same way whatever happens next. The worker
    runs contact_subscribe with the time of this request (core.intake, decision 0007).
    """
    consent_texts.consent_text(consent_version)  # KeyError: the caller skipped validation
    submission_accept(
        kind=SIGNUP_KIND,
        email=email,
        payload={
            "consent_version": consent_version,
            "source": asdict(source),
            "actor": asdict(actor),
        },
    )


def signup_process(submission: FormSubmission) -> SignupOutcome:
    """core.intake handler: the stored signup, in the intake's transaction."""
    data = submission.payload
    return contact_subscribe(
        email=submission.email,
        consent_version=data["consent_version"],
        source=Source(**data["source"]),
        actor=Actor(**data["actor"]),
        at=submission.received_at,
    )


@transaction.atomic
def contact_subscribe(
    *,
    email: str,
    consent_version: str,
    source: Source,
    actor: Actor,
    at: datetime | None = None,
) -> SignupOutcome:
    """Handle a newsletter signup for a normalized address (double opt-in).

    The caller has validated the address (normalize_email), the ticked consent box and the
    consent version (contacts.consent), and answers the visitor the same way whatever this
    returns. New, pending or unsubscribed addresses get a signup consent event (dated `at`,
    when the visitor sent the form; default now) and, outside the per-address cooldown, one
    confirmation mail; confirmed and blocked ones get nothing. Safe under concurrent
    identical calls: one contact row, at most one mail per cooldown. Runs in the caller's
    transaction when there is one (core.intake, "Get the PDF"), else in its own.
    """
    consent_texts.consent_text(consent_version)  # KeyError: the caller skipped validation
    if suppression_check(email=email):
        return SignupOutcome.BLOCKED  # nothing stored for an address we must never mail
    inbox_lock(email)  # the cooldown below holds across +tag variants, even concurrently
    contact = _contact_get_or_create(email=email)
    subscription = _subscription_lock(contact=contact, source=source)
    subscription.contact = contact  # the row we hold: no second SELECT for the address
    if subscription.is_blocked:
        return SignupOutcome.BLOCKED
    if subscription.status == Subscription.Status.CONFIRMED:
        return SignupOutcome.ALREADY_CONFIRMED

    # Pending or unsubscribed, under the row lock: one UPDATE, one ledger row, maybe one mail.
    now = timezone.now()
    fields = ["requested_at"]
    subscription.requested_at = at or now
    if subscription.status == Subscription.Status.UNSUBSCRIBED:
        # A fresh consent after an unsubscribe: a new cycle with the latest attribution.
        subscription.status = Subscription.Status.PENDING
        for name, value in source.model_fields().items():
            setattr(subscription, name, value)
        fields += ["status", *source.model_fields()]
    send = _cooldown_over(subscription) and not _inbox_recently_confirmed(
        subscription=subscription, now=now
    )
    if send:
        subscription.last_confirmation_sent_at = now
        fields.append("last_confirmation_sent_at")
    subscription.save(update_fields=fields)
    _consent_record(
        contact=contact, event=ConsentEvent.Event.SIGNUP, actor=actor,
        consent_version=consent_version, occurred_at=at,
    )  # fmt: skip
    if not send:
        return SignupOutcome.THROTTLED
    _confirmation_mail_create(subscription=subscription)
    logger.info("signup: confirmation queued for subscription %s", subscription.pk)
    return SignupOutcome.CONFIRMATION_SENT


# -- Confirm -----------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def subscription_confirm(*, subscription_id: int, generation: int, actor: Actor) -> ConfirmOutcome:
    """Confirm a pending subscription from its link (id + generation). Idempotent.

    A link whose generation is over (the subscriber unsubscribed since) or a blocked
    subscription changes nothing: STALE. The first confirmation records a consent event and
    queues the welcome mail.
    """
    subscription = (
        Subscription.objects.select_for_update().select_related("contact")
        .filter(pk=subscription_id).first()
    )  # fmt: skip
    if subscription is None:
        raise SubscriptionNotFoundError("This subscription no longer exists.")
    if generation != subscription.token_generation or subscription.is_blocked:
        return ConfirmOutcome.STALE
    if subscription.status == Subscription.Status.CONFIRMED:
        return ConfirmOutcome.ALREADY_CONFIRMED
    if subscription.status != Subscription.Status.PENDING:
        return ConfirmOutcome.STALE

    subscription.status = Subscription.Status.CONFIRMED
    subscription.confirmed_at = timezone.now()
    subscription.save(update_fields=["status", "confirmed_at"])
    _consent_record(contact=subscription.contact, event=ConsentEvent.Event.CONFIRM, actor=actor)
    outbound_mail_create(
        to=subscription.contact.email,
        template="welcome",
        context={},
        category=OutboundMail.Category.MARKETING,
        unsubscribe_url=unsubscribe_url(subscription_id=subscription.pk),
    )
    transaction.on_commit(_count_label_forget)
    logger.info("subscription %s confirmed", subscription.pk)
    return ConfirmOutcome.CONFIRMED


@transaction.atomic(durable=True)
def subscription_confirmation_resend(*, subscription_id: int, actor: Actor) -> bool:
    """Send a fresh confirmation mail to a still-pending subscription, outside the cooldown.

    Returns True when a mail was queued. Anything but PENDING (or a suppressed address) is a
    quiet no-op, so callers can answer the same way whatever happened.
    """
    subscription = (
        Subscription.objects.select_for_update().select_related("contact")
        .filter(pk=subscription_id).first()
    )  # fmt: skip
    if subscription is None:
        raise SubscriptionNotFoundError("This subscription no longer exists.")
    if subscription.status != Subscription.Status.PENDING:
        return False
    if suppression_check(email=subscription.contact.email) or not _cooldown_over(subscription):
        return False
    subscription.last_confirmation_sent_at = timezone.now()
    subscription.save(update_fields=["last_confirmation_sent_at"])
    _confirmation_mail_create(subscription=subscription)
    logger.info("subscription %s: confirmation sent again (%s)", subscription.pk, actor.detail)
    return True


# -- Unsubscribe -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def subscription_unsubscribe(*, subscription_id: int, actor: Actor) -> bool:
    """Withdraw consent. Idempotent; synchronous (no cache, no broker): works with Redis down.

    Bumps the token generation so that no earlier confirmation link works again. A blocked
    subscription stays blocked but records the withdrawal (so lifting the block later does
    not re-subscribe). The address's queued marketing mails are skipped in the same
    transaction (a mail already being sent is stopped by mailings' check at send time).
    Returns True when something changed.
    """
    subscription = (
        Subscription.objects.select_for_update().select_related("contact")
        .filter(pk=subscription_id).first()
    )  # fmt: skip
    if subscription is None:
        raise SubscriptionNotFoundError("This subscription no longer exists.")
    if subscription.status == Subscription.Status.UNSUBSCRIBED:
        return False
    if subscription.is_blocked and _withdrawn(subscription):
        return False
    fields = ["unsubscribed_at", "token_generation"]
    if not subscription.is_blocked:
        subscription.status = Subscription.Status.UNSUBSCRIBED
        fields.append("status")
    subscription.unsubscribed_at = timezone.now()
    subscription.token_generation += 1
    subscription.save(update_fields=fields)
    _consent_record(contact=subscription.contact, event=ConsentEvent.Event.UNSUBSCRIBE, actor=actor)
    marketing_mails_cancel(
        emails=[subscription.contact.email], reason=OutboundMail.SkipReason.UNSUBSCRIBED
    )
    logger.info("subscription %s unsubscribed (%s)", subscription.pk, actor.detail or "link")
    return True


def _withdrawn(subscription: Subscription) -> bool:
    """True when the last consent act was an unsubscribe (after any confirmation)."""
    if subscription.unsubscribed_at is None:
        return False
    confirmed = subscription.confirmed_at
    return confirmed is None or subscription.unsubscribed_at > confirmed


# -- Admin actions -----------------------------------------------------------------------------


@transaction.atomic(durable=True)
def contact_suppress(*, contact_id: int, actor: Actor) -> bool:
    """Admin: never mail this address again (global suppression) and block the subscription.

    Its queued marketing mails are skipped. Idempotent; returns True (the address is
    suppressed afterwards in every case).
    """
    contact = Contact.objects.get(pk=contact_id)
    suppression_add(email=contact.email, reason=Suppression.Reason.MANUAL, detail=actor.detail)
    marketing_mails_cancel(emails=[contact.email], reason=OutboundMail.SkipReason.SUPPRESSED)
    Subscription.objects.filter(contact=contact).exclude(status__in=Subscription.BLOCKED).update(
        status=Subscription.Status.SUPPRESSED
    )
    _consent_record(contact=contact, event=ConsentEvent.Event.ADMIN, actor=actor)
    return True


@transaction.atomic(durable=True)
def contact_suppression_lift(*, contact_id: int, actor: Actor) -> bool:
    """Admin only: lift a bounce/complaint/manual block and its global suppression.

    The subscription returns to CONFIRMED if its holder had confirmed and never withdrew,
    otherwise to UNSUBSCRIBED (a new signup is needed): lifting never creates consent.
    """
    contact = Contact.objects.get(pk=contact_id)
    mailings_suppression_lift(email=contact.email)
    subscription = Subscription.objects.select_for_update().filter(contact=contact).first()
    if subscription is None or not subscription.is_blocked:
        return False
    consented = subscription.confirmed_at is not None and not _withdrawn(subscription)
    subscription.status = (
        Subscription.Status.CONFIRMED if consented else Subscription.Status.UNSUBSCRIBED
    )
    if not consented:
        subscription.token_generation += 1
    subscription.save(update_fields=["status", "token_generation"])
    _consent_record(contact=contact, event=ConsentEvent.Event.ADMIN, actor=actor)
    return True


# -- Background maintenance (beat) -------------------------------------------------------------


def subscriptions_sync_suppressions(*, limit: int = 5000) -> int:
    """Mirror mailings' suppression list onto subscription status (bounced/complained/...).

    mailings knows nothing of contacts, so this pull runs from beat. Returns rows changed.
    """
    reasons = {
        Suppression.Reason.BOUNCED: Subscription.Status.BOUNCED,
        Suppression.Reason.COMPLAINED: Subscription.Status.COMPLAINED,
    }
    changed = 0
    open_statuses = [Subscription.Status.PENDING, Subscription.Status.CONFIRMED]
    for reason, status in reasons.items():
        hashes = Suppression.objects.filter(reason=reason).values("email_hash")
        ids = list(
            Subscription.objects.filter(
                status__in=open_statuses, contact__email_hash__in=hashes
            ).values_list("pk", flat=True)[:limit]
        )
        if ids:
            changed += Subscription.objects.filter(pk__in=ids, status__in=open_statuses).update(
                status=status
            )
    if changed:
        logger.info("marked %s subscriptions bounced/complained from the suppression list", changed)
    return changed


def contacts_purge_unconfirmed(*, batch: int = 2000) -> int:
    """Delete never-confirmed signups (with their IPs and consent rows) past retention.

    A contact goes when its subscription was never confirmed and its last signup request is
    older than CONTACTS_UNCONFIRMED_RETENTION_DAYS. Suppressions stay (they are keyed by hash
    in mailings). Returns the number of contacts deleted.
    """
    cutoff = timezone.now() - timedelta(days=settings.CONTACTS_UNCONFIRMED_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            Contact.objects.filter(
                subscription__confirmed_at__isnull=True, subscription__requested_at__lt=cutoff
            ).values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        with transaction.atomic():
            # Re-check the rule: a signup may have renewed a row since the ids were read.
            _, per_model = Contact.objects.filter(
                pk__in=ids,
                subscription__confirmed_at__isnull=True,
                subscription__requested_at__lt=cutoff,
            ).delete()
        deleted += per_model.get(Contact._meta.label, 0)
    if deleted:
        logger.info("retention: deleted %s unconfirmed contacts", deleted)
    return deleted
