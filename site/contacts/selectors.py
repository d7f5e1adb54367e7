"""Reads: the live subscriber count behind "Join N+ ...", the admin's per-contact mails, and
the consent check mailings runs before every marketing mail (registered in apps.py)."""

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet

from contacts import consent
from contacts.forms import SignupForm
from contacts.models import Contact, Subscription
from contacts.services import COUNT_LABEL_CACHE_KEY, SubscriptionNotFoundError
from guides.content import Chapter, Guide, get_library
from mailings.models import OutboundMail, Suppression, email_hash

logger = logging.getLogger(__name__)

#: Exact counts are shown below this; from here on a round floor ("6,000+").
EXACT_BELOW = 100
#: Mantissas of the "nice" floors: 1,000 1,500 2,000 2,500 3,000 4,000 ... 9,000 10,000 ...
_NICE = (10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90)

# Used only while the shared cache is down, so that an outage costs one query per process
# per TTL rather than one per page view.
_fallback_lock = threading.Lock()
_fallback: tuple[float, str] | None = None


def subscriber_count_confirmed() -> int:
    """Confirmed subscribers whose address is not on mailings' suppression list (one query)."""
    suppressed = Suppression.objects.values("email_hash")
    return (
        Subscription.objects.filter(status=Subscription.Status.CONFIRMED)
        .exclude(contact__email_hash__in=suppressed)
        .count()
    )


def count_label(count: int) -> str:
    """'' for nobody, the exact number below 100, then a round floor: 6,432 -> '6,000+'."""
    if count <= 0:
        return ""
    if count < EXACT_BELOW:
        return str(count)
    scale = 1
    while count >= 100 * scale:
        scale *= 10
    floor = max(n * scale for n in _NICE if n * scale <= count)
    return f"{floor:,}+"


def subscriber_count_label() -> str:
    """The "N" of "Join N ...", cached for CONTACTS_COUNT_CACHE_SECONDS.

    A warm page view costs a cache read and no query. Also listed in
    settings.PAGE_FRAGMENT_VERSIONS, so cached pages re-render when the label changes.
    """
    global _fallback
    try:
        label = cache.get(COUNT_LABEL_CACHE_KEY)
    except Exception:
        logger.warning("subscriber count: cache unavailable, using the process copy")
        with _fallback_lock:
            if _fallback is None or _fallback[0] < time.monotonic():
                expires = time.monotonic() + settings.CONTACTS_COUNT_CACHE_SECONDS
                _fallback = (expires, count_label(subscriber_count_confirmed()))
            return _fallback[1]
    if label is not None:
        return label
    label = count_label(subscriber_count_confirmed())
    try:
        cache.set(COUNT_LABEL_CACHE_KEY, label, timeout=settings.CONTACTS_COUNT_CACHE_SECONDS)
    except Exception:
        logger.warning("subscriber count: cache unavailable (set)")
    return label


def subscription_get(*, subscription_id: int) -> Subscription:
    """The subscription with its contact; SubscriptionNotFoundError if it is gone."""
    found = Subscription.objects.select_related("contact").filter(pk=subscription_id).first()
    if found is None:
        raise SubscriptionNotFoundError("This subscription no longer exists.")
    return found


#: Copy for boxes outside a guide (home page, the standalone signup page).
DEFAULT_AUDIENCE = "product people"
DEFAULT_PITCH = "Practical lessons on building products, in your inbox every other week."


def public_box_form(
    form_class: Any,
    *,
    form: Any,
    guide: Guide | str | None,
    chapter: Chapter | int | None,
    form_name: str,
    prefix: str,
) -> tuple[Any, Guide | None, str]:
    """(form, guide, consent version to show) for a public form's box (signup, "Get the PDF").

    A fresh `form_class` form with its hidden attribution and the current consent wording when
    `form` is None; else the posted form, shown again with the wording version it was sent
    with (when still known). `guide` and `chapter` may be content objects (from a page) or a
    slug and a number (from a posted form).
    """
    if isinstance(guide, str):
        guide = get_library().guide(guide) if guide else None
    if form is None:
        version = consent.CURRENT_VERSION
        form = form_class(
            auto_id=f"{prefix}-{form_name}-%s",
            initial=form_class.initial_for(
                guide_slug=guide.slug if guide else "",
                chapter_number=chapter.number if isinstance(chapter, Chapter) else chapter,
                form_name=form_name,
                consent_version=version,
            ),
        )
        return form, guide, version
    version = form.data.get("consent_version", "")
    return form, guide, version if version in consent.CONSENT_TEXTS else consent.CURRENT_VERSION


def signup_box_context(
    *,
    form: Any = None,
    guide: Guide | str | None = None,
    chapter: Chapter | int | None = None,
    form_name: str = "inline",
) -> dict[str, Any]:
    """Everything templates/contacts/signup_box.html needs; no query when the label is warm.

    `form` is a bound SignupForm being shown again with its errors, or None for a fresh box.
    `guide` and `chapter` may be content objects (from a page) or a slug and a number (from a
    posted form). The page holding the box may be cached: nothing in it is per visitor.
    """
    form, guide, version = public_box_form(
        SignupForm, form=form, guide=guide, chapter=chapter, form_name=form_name, prefix="signup"
    )
    return {
        "form": form,
        "box_id": f"signup-{form_name}",
        "count_label": subscriber_count_label(),
        "audience": guide.audience if guide else DEFAULT_AUDIENCE,
        "pitch": guide.pitch if guide else DEFAULT_PITCH,
        "consent_version": version,
        "consent_text": consent.consent_text(version),
    }


def contact_mails(*, contact: Contact, limit: int = 50) -> QuerySet[OutboundMail]:
    """The newest mails sent to this contact's address (for the admin)."""
    return OutboundMail.objects.filter(to_email=contact.email).order_by("-created_at")[:limit]


#: The consent of a batch of addresses in one indexed query (every join is on a unique key);
#: hand-written because it runs before every marketing mail, like mailings' claim.
_CONSENT_SQL = (
    f"SELECT c.email_hash, s.status, x.id FROM {Contact._meta.db_table} c"  # noqa: S608 (model constants)
    f" LEFT JOIN {Subscription._meta.db_table} s ON s.contact_id = c.id"
    f" LEFT JOIN {Suppression._meta.db_table} x ON x.email_hash = c.email_hash"
    " WHERE c.email_hash IN ({})"
)


def _refusal(status: str | None, suppressed: bool) -> str | None:
    reason = OutboundMail.SkipReason
    if suppressed or status in Subscription.BLOCKED:
        return reason.SUPPRESSED
    if status == Subscription.Status.UNSUBSCRIBED:
        return reason.UNSUBSCRIBED
    if status != Subscription.Status.CONFIRMED:
        return reason.NOT_CONFIRMED
    return None


def marketing_refusals(*, emails: Sequence[str]) -> dict[str, str | None]:
    """mailings.consent gate: why each address may not get marketing mail now, else None.

    Only a confirmed subscriber whose address is not on the suppression list may: no
    contact (erased, or never one) is "erased", a suppression or a blocked subscription
    "suppressed", then "unsubscribed", and anything else unconfirmed "not_confirmed".
    """
    hashes = {email: email_hash(email) for email in emails}
    found: dict[str, tuple[str | None, bool]] = {}
    if hashes:
        distinct = sorted(set(hashes.values()))
        sql = _CONSENT_SQL.format(", ".join(["%s"] * len(distinct)))
        with connection.cursor() as cursor:
            cursor.execute(sql, distinct)
            found = {row[0]: (row[1], row[2] is not None) for row in cursor.fetchall()}
    return {
        email: _refusal(*found[digest]) if digest in found else OutboundMail.SkipReason.ERASED
        for email, digest in hashes.items()
    }
