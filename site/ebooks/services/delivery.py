"""The "Get the PDF" service: requests, delivery mail, download links.

ebook_request_accept stores the form (core.intake); in a worker, ebook_request_create stores
a request and queues its delivery mail in one transaction when the PDF exists, or publishes
`ebooks.ebook_deliver` (render, then mail) after commit; ebook_requests_requeue_stuck is the
sweeper. Download links are signed tokens holding the request id; files.ebook_file_for_download
picks the file they serve.
"""

import logging
import math
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from config import jobs
from contacts.models import Contact
from contacts.services import Actor, SignupOutcome, Source, contact_subscribe
from core.emailaddr import inbox_lock
from core.intake import submission_accept
from core.models import FormSubmission
from core.signing import make_token
from ebooks.models import EbookDownload, EbookRequest
from ebooks.services.files import (
    EbookFile,
    EbookGuideNotFoundError,
    _guide,
    _stored,
    ebook_get_or_render,
)
from guides.content import Guide, get_library
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create, suppression_check

# The package's name, as before it was split: log lines and any filter on them are unchanged.
logger = logging.getLogger("ebooks.services")


#: core.signing purpose of download links; the token holds the EbookRequest id only.
DOWNLOAD_PURPOSE = "ebook-download"
#: templates/emails/ebook_delivery.{subject.txt,txt,html}
DELIVERY_TEMPLATE = "ebook_delivery"

_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class EbookRequestOutcome(StrEnum):
    """What ebook_request_create did. Never shown to the visitor (the answer is always the same)."""

    #: The PDF was in storage: the delivery mail row was created in the same transaction.
    MAIL_QUEUED = "mail_queued"
    #: The PDF must be rendered first: `ebooks.ebook_deliver` is published after commit.
    DELIVERY_QUEUED = "delivery_queued"
    #: This address got this guide within EBOOK_DELIVERY_LIMIT_HOURS: nothing stored or sent.
    THROTTLED = "throttled"
    #: The address is on the suppression list: nothing stored or sent.
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class EbookRequestResult:
    outcome: EbookRequestOutcome
    #: The stored EbookRequest, or None when nothing was stored.
    request_id: int | None = None
    #: What the newsletter opt-in did (contacts.services.contact_subscribe), if it was ticked.
    newsletter: SignupOutcome | None = None


def ebook_filename(title: str) -> str:
    """'<eBook title>.pdf' without characters that file systems or headers refuse."""
    name = " ".join(_UNSAFE_FILENAME.sub(" ", title).split())[:150].strip(" .")
    return f"{name or 'eBook'}.pdf"


def _titles(guide_slug: str) -> tuple[str, str]:
    """(guide title, eBook title) of a guide, falling back to its slug if it was removed."""
    guide = get_library().guide(guide_slug)
    if guide is None:
        return guide_slug, guide_slug
    return guide.title, guide.ebook_title


def ebook_download_filename(*, guide_slug: str) -> str:
    """The file name a guide's PDF is mailed and downloaded as: '<eBook title>.pdf'."""
    return ebook_filename(_titles(guide_slug)[1])


def ebook_download_token(*, request_id: int) -> str:
    return make_token(DOWNLOAD_PURPOSE, request_id)


def ebook_download_url(*, request_id: int) -> str:
    """Absolute, signed and expiring (EBOOK_LINK_MAX_AGE) link; no personal data in it."""
    token = ebook_download_token(request_id=request_id)
    return settings.SITE_URL + reverse("ebooks:download", args=[token])


def _size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, math.ceil(size / 1024))} KB"


def _contact_lock(*, email: str) -> Contact:
    """The contact of a normalized address, created if missing, and locked for this transaction.

    Same insert-or-nothing as contacts' own signup (INSERT ... ON CONFLICT DO NOTHING, never
    an error under a concurrent insert of the same address). The row lock serialises
    concurrent requests of one address, so the per-address limit holds; FOR NO KEY UPDATE
    does not block other transactions that only insert rows pointing at the contact.
    """
    contact = Contact.for_address(email)
    Contact.objects.bulk_create([contact], ignore_conflicts=True)
    return Contact.objects.select_for_update(no_key=True).get(email_hash=contact.email_hash)


def _delivery_mail_create(*, request: EbookRequest, to: str, ebook: EbookFile) -> OutboundMail:
    """Queue the delivery mail for `request` and mark it delivered (caller's transaction)."""
    guide_title, ebook_title = _titles(request.guide_slug)
    attach = ebook.size <= settings.EBOOK_ATTACH_MAX_BYTES
    context = {
        "guide_title": guide_title,
        "ebook_title": ebook_title,
        "guide_url": settings.SITE_URL + reverse("guides:guide", args=[request.guide_slug]),
        "download_url": ebook_download_url(request_id=request.pk),
        "link_days": max(1, settings.EBOOK_LINK_MAX_AGE // 86_400),
        "attached": attach,
        "pages": ebook.pages,
        "size_label": _size_label(ebook.size),
        "newsletter_opt_in": request.newsletter_opt_in,
    }
    mail = outbound_mail_create(
        to=to,
        template=DELIVERY_TEMPLATE,
        context=context,
        category=OutboundMail.Category.TRANSACTIONAL,
        attachment=(ebook.name, ebook_filename(ebook_title)) if attach else None,
    )
    request.mail = mail
    request.delivered_at = timezone.now()
    request.version = ebook.version
    request.save(update_fields=["mail", "delivered_at", "version"])
    return mail


def _ebook_request_store(
    *,
    email: str,
    guide: Guide,
    ebook: EbookFile | None,
    source: Source,
    actor: Actor,
    newsletter_opt_in: bool,
    at: datetime | None,
) -> tuple[EbookRequestOutcome, int | None]:
    if suppression_check(email=email):
        return EbookRequestOutcome.SUPPRESSED, None  # nothing stored for an address we never mail
    inbox_lock(email)  # the limit below holds across +tag variants, even concurrently
    contact = _contact_lock(email=email)
    now = timezone.now()
    since = now - timedelta(hours=settings.EBOOK_DELIVERY_LIMIT_HOURS)
    recent = EbookRequest.objects.filter(
        contact__inbox_hash=contact.inbox_hash, guide_slug=guide.slug, created_at__gt=since
    )
    if recent.exists():
        return EbookRequestOutcome.THROTTLED, None
    request = EbookRequest.objects.create(
        contact=contact,
        guide_slug=guide.slug,
        newsletter_opt_in=newsletter_opt_in,
        ip=actor.ip,
        created_at=at or now,
        enqueued_at=None if ebook else now,
        enqueue_count=0 if ebook else 1,
        **source.model_fields(guide=False),
    )
    if ebook is not None:
        _delivery_mail_create(request=request, to=contact.email, ebook=ebook)
        return EbookRequestOutcome.MAIL_QUEUED, request.pk
    transaction.on_commit(lambda: jobs.enqueue_ebook_deliver(request.pk))
    return EbookRequestOutcome.DELIVERY_QUEUED, request.pk


EBOOK_REQUEST_KIND = "ebook_request"


def ebook_request_accept(
    *,
    email: str,
    guide_slug: str,
    source: Source,
    actor: Actor,
    newsletter_opt_in: bool = False,
    consent_version: str = "",
) -> None:
    """Accept a "Get the PDF" form: one stored row; a worker runs ebook_request_create.

    Same arguments as ebook_request_create, already validated by the caller, who answers the
    visitor the same way whatever happens next (core.intake, decision 0007). Raises
    EbookGuideNotFoundError for an unknown guide.
    """
    if newsletter_opt_in and not consent_version:
        raise ValueError("a newsletter opt-in needs the consent version that was shown")
    _guide(guide_slug)
    submission_accept(
        kind=EBOOK_REQUEST_KIND,
        email=email,
        payload={
            "guide_slug": guide_slug,
            "newsletter_opt_in": newsletter_opt_in,
            "consent_version": consent_version,
            "source": asdict(source),
            "actor": asdict(actor),
        },
    )


def ebook_request_process(submission: FormSubmission) -> EbookRequestResult | None:
    """core.intake handler: the stored request, in the intake's transaction.

    A guide removed from the content since the form was sent drops the request (logged).
    """
    data = submission.payload
    try:
        return ebook_request_create(
            email=submission.email,
            guide_slug=data["guide_slug"],
            source=Source(**data["source"]),
            actor=Actor(**data["actor"]),
            newsletter_opt_in=data["newsletter_opt_in"],
            consent_version=data["consent_version"],
            at=submission.received_at,
        )
    except EbookGuideNotFoundError:
        logger.warning("ebook request %s: its guide no longer exists, dropped", submission.pk)
        return None


@transaction.atomic
def ebook_request_create(
    *,
    email: str,
    guide_slug: str,
    source: Source,
    actor: Actor,
    newsletter_opt_in: bool = False,
    consent_version: str = "",
    at: datetime | None = None,
) -> EbookRequestResult:
    """Act on a "Get the PDF" request for a normalized address and a known guide.

    In one transaction (the caller's, when there is one: core.intake's): the EbookRequest
    row, dated `at` (when the visitor sent the form; default now), and, when the current
    version's PDF is already in storage, its delivery mail (PDF attached up to
    EBOOK_ATTACH_MAX_BYTES, always a signed download link); otherwise `ebooks.ebook_deliver`
    is published after commit and renders first. At most one delivery per guide and address
    per EBOOK_DELIVERY_LIMIT_HOURS; a suppressed address gets nothing. A PDF request is never
    a newsletter subscription: only `newsletter_opt_in` (with the `consent_version` of the
    text shown beside its box) enters contacts' double opt-in.

    Raises EbookGuideNotFoundError for an unknown guide.
    """
    if newsletter_opt_in and not consent_version:
        raise ValueError("a newsletter opt-in needs the consent version that was shown")
    guide = _guide(guide_slug)
    ebook = _stored(guide)
    outcome, request_id = _ebook_request_store(
        email=email,
        guide=guide,
        ebook=ebook,
        source=source,
        actor=actor,
        newsletter_opt_in=newsletter_opt_in,
        at=at,
    )
    newsletter = None
    if newsletter_opt_in:
        newsletter = contact_subscribe(
            email=email,
            consent_version=consent_version,
            source=replace(source, guide_slug=guide.slug),
            actor=actor,
            at=at,
        )
    logger.info("ebook request for %s: %s (request %s)", guide.slug, outcome, request_id)
    return EbookRequestResult(outcome=outcome, request_id=request_id, newsletter=newsletter)


@transaction.atomic(durable=True)
def _delivery_finish(*, request_id: int, ebook: EbookFile) -> str:
    request = (
        EbookRequest.objects.select_for_update(of=("self",)).select_related("contact")
        .filter(pk=request_id).first()
    )  # fmt: skip
    if request is None:
        return "missing"
    if request.delivered_at is not None:
        return "already_delivered"
    _delivery_mail_create(request=request, to=request.contact.email, ebook=ebook)
    return "delivered"


def ebook_request_deliver(*, request_id: int) -> str:
    """Render the request's guide if needed (single-flight), then queue its delivery mail.

    Idempotent: a request that already has its mail, or no longer exists (erased), is left
    alone; returns "delivered", "already_delivered" or "missing". For the `ebook_deliver`
    task only (a cold render takes seconds). Raises EbookBusyError (retry later),
    EbookGuideNotFoundError or ebooks.render.EbookRenderError.
    """
    found = (
        EbookRequest.objects.filter(pk=request_id).values_list("guide_slug", "delivered_at").first()
    )
    if found is None:
        return "missing"
    guide_slug, delivered_at = found
    if delivered_at is not None:
        return "already_delivered"
    ebook = ebook_get_or_render(guide_slug=guide_slug)  # outside any transaction: it may wait
    return _delivery_finish(request_id=request_id, ebook=ebook)


def ebook_requests_requeue_stuck(*, limit: int = 500) -> int:
    """Sweeper: publish again undelivered requests whose task was lost or whose worker died.

    A request waiting longer than EBOOK_REQUEUE_AFTER seconds since its last publish is
    published again, at most EBOOK_REQUEUE_MAX times in all (a guide that cannot render
    does not keep a renderer busy forever; the admin can retry later). Publishing twice is
    harmless: delivery is idempotent. Returns the number published.
    """
    now = timezone.now()
    waiting = now - timedelta(seconds=settings.EBOOK_REQUEUE_AFTER)
    ids = list(
        EbookRequest.objects.filter(
            delivered_at__isnull=True, enqueue_count__lt=settings.EBOOK_REQUEUE_MAX
        )
        .filter(Q(enqueued_at__lt=waiting) | Q(enqueued_at__isnull=True))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    published = [pk for pk in ids if jobs.enqueue_ebook_deliver(pk)]
    if published:
        EbookRequest.objects.filter(pk__in=published).update(
            enqueued_at=now, enqueue_count=F("enqueue_count") + 1
        )
        logger.info(
            "sweeper re-enqueued %s of %s undelivered eBook requests", len(published), len(ids)
        )
    return len(published)


def ebook_requests_redeliver(*, request_ids: list[int]) -> int:
    """Admin action: try the delivery of undelivered requests again (the sweeper gave up)."""
    with transaction.atomic():
        ids = list(
            EbookRequest.objects.filter(pk__in=request_ids, delivered_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        EbookRequest.objects.filter(pk__in=ids).update(enqueued_at=timezone.now(), enqueue_count=1)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: jobs.enqueue_ebook_deliver(pk))
    return len(ids)


# -- Download links ----------------------------------------------------------------------------


def ebook_download_record(*, request_id: int, version: str) -> EbookDownload | None:
    """Log one download through a request's link (None if the request is gone meanwhile)."""
    if not EbookRequest.objects.filter(pk=request_id).exists():
        return None
    return EbookDownload.objects.create(
        request_id=request_id, version=version, created_at=timezone.now()
    )
