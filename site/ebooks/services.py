"""eBook files: one PDF per guide and content version, rendered once, kept in default_storage.

Storage layout: `ebooks/<guide>/<version>.pdf` and beside it `ebooks/<guide>/<version>.json`
(size, pages, render_seconds, rendered_at). The JSON is written after the PDF and marks it
complete: a PDF without its JSON (a render that died half-way) is never served. Any worker
on any machine can serve any version, because the storage is shared (filesystem locally,
object storage in production) and the content version is part of the name.

Rendering takes seconds, so only Celery tasks and `manage.py build_ebooks` call
ebook_get_or_render(); views read with ebook_file_get(). WeasyPrint is imported on the first
render, never by a web process that only reads.

"Get the PDF" (below the cache): ebook_request_accept stores the form (core.intake); in a
worker, ebook_request_create stores a request and queues its delivery mail in one
transaction when the PDF exists, or publishes `ebooks.ebook_deliver`
(render, then mail) after commit; ebook_requests_requeue_stuck is the sweeper. Download links
are signed tokens holding the request id; ebook_file_for_download picks the file they serve.
"""

import json
import logging
import math
import re
import secrets
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from config import jobs
from contacts.models import Contact
from contacts.services import Actor, SignupOutcome, Source, contact_subscribe
from core.emailaddr import inbox_lock
from core.exceptions import AppError
from core.intake import submission_accept
from core.models import FormSubmission
from core.signing import make_token
from ebooks.models import EbookDownload, EbookRequest
from guides.content import Guide, get_library
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create, suppression_check

logger = logging.getLogger(__name__)

#: Storage folder of all eBooks; one sub-folder per guide slug.
EBOOK_ROOT = "ebooks"
#: Seconds between two looks at the storage while another process renders.
POLL_SECONDS = 0.2


class EbookGuideNotFoundError(AppError):
    """No guide has this slug."""


class EbookBusyError(Exception):
    """Another process held the render lock longer than EBOOK_RENDER_WAIT_SECONDS.

    Transient: the render is still running, or its worker died and the lock expires after
    EBOOK_LOCK_SECONDS. Tasks retry on it.
    """


@dataclass(frozen=True)
class EbookFile:
    """A complete eBook PDF in default_storage."""

    guide_slug: str
    version: str
    #: The PDF's name in default_storage: ebooks/<guide>/<version>.pdf.
    name: str
    size: int
    pages: int
    render_seconds: float
    rendered_at: datetime
    #: True when this very call rendered the file (False: it came from the cache).
    rendered_now: bool = False


def ebook_storage_name(*, guide_slug: str, version: str) -> str:
    """The storage name of a guide's PDF for one content version."""
    return f"{EBOOK_ROOT}/{guide_slug}/{version}.pdf"


def _meta_name(pdf_name: str) -> str:
    return pdf_name.removesuffix(".pdf") + ".json"


def _guide(guide_slug: str) -> Guide:
    guide = get_library().guide(guide_slug)
    if guide is None:
        raise EbookGuideNotFoundError(f"No guide is called {guide_slug!r}.")
    return guide


def _read_meta(name: str) -> dict[str, Any] | None:
    """The JSON beside a PDF, or None when it is missing or unreadable (not yet complete)."""
    try:
        with default_storage.open(name, "rb") as fh:
            meta = json.loads(fh.read())
    except (FileNotFoundError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _stored(guide: Guide) -> EbookFile | None:
    """The complete PDF of the guide's current version, if there is one."""
    name = ebook_storage_name(guide_slug=guide.slug, version=guide.version)
    meta = _read_meta(_meta_name(name))
    if meta is None or meta.get("version") != guide.version:
        return None
    try:
        size = default_storage.size(name)
    except FileNotFoundError:
        return None
    if size != meta.get("size"):
        return None  # replaced or truncated behind our back: render again
    return EbookFile(
        guide_slug=guide.slug,
        version=guide.version,
        name=name,
        size=size,
        pages=int(meta["pages"]),
        render_seconds=float(meta["render_seconds"]),
        rendered_at=datetime.fromisoformat(meta["rendered_at"]),
    )


def ebook_file_get(*, guide_slug: str) -> EbookFile | None:
    """The current version's PDF if it has been rendered, else None. Never renders.

    For views and the admin: to get a file that may not exist yet, enqueue the
    `ebooks.ebook_render` task. Raises EbookGuideNotFoundError for an unknown slug.
    """
    return _stored(_guide(guide_slug))


def _save(name: str, content: bytes) -> None:
    # FileSystemStorage never overwrites (it would pick another name): delete first.
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(content))
    if saved != name:
        default_storage.delete(saved)
        raise RuntimeError(f"storage saved {name!r} as {saved!r}; is another process writing it?")


def _render_and_store(guide: Guide) -> EbookFile:
    from ebooks import render  # WeasyPrint: imported by renderers only

    result = render.ebook_render(guide=guide)
    name = ebook_storage_name(guide_slug=guide.slug, version=guide.version)
    ebook = EbookFile(
        guide_slug=guide.slug,
        version=guide.version,
        name=name,
        size=len(result.pdf),
        pages=result.pages,
        render_seconds=result.seconds,
        rendered_at=timezone.now(),
        rendered_now=True,
    )
    meta = asdict(ebook)
    del meta["rendered_now"]
    meta["rendered_at"] = ebook.rendered_at.isoformat()
    # The JSON is deleted first and written last, so it exists only beside a complete PDF.
    meta_name = _meta_name(name)
    if default_storage.exists(meta_name):
        default_storage.delete(meta_name)
    _save(name, result.pdf)
    _save(meta_name, json.dumps(meta, indent=2).encode())
    logger.info(
        "ebook rendered: %s, %d pages, %d bytes, %.2f s",
        name,
        ebook.pages,
        ebook.size,
        ebook.render_seconds,
    )
    return ebook


def _release(lock_key: str, token: str) -> None:
    # Get-then-delete is not atomic; the lock's TTL outlives any render (EBOOK_LOCK_SECONDS
    # > the task's hard time limit), so a holder never finds someone else's lock here.
    if cache.get(lock_key) == token:
        cache.delete(lock_key)


def ebook_get_or_render(*, guide_slug: str, force: bool = False) -> EbookFile:
    """The PDF of the guide's current content version, rendering it if it does not exist.

    Single-flight across processes and machines: one caller takes a lock in the shared cache
    (`cache.add`, atomic in Redis) and renders; every other caller polls the storage until
    the file appears, and re-checks after taking the lock, so one version is rendered
    exactly once. `force=True` renders again even if the file exists (the admin's
    "rebuild"); concurrent forced callers still share one render.

    Call it from a Celery task or a management command, never in a request: a cold render
    takes seconds. Raises EbookGuideNotFoundError, EbookBusyError (waited EBOOK_RENDER_WAIT_SECONDS
    for another process: retry later) or ebooks.render.EbookRenderError.
    """
    guide = _guide(guide_slug)
    asked_at = timezone.now()

    def usable(found: EbookFile) -> bool:
        return not force or found.rendered_at >= asked_at

    lock_key = f"ebooks:render:{guide.slug}:{guide.version}"
    token = secrets.token_hex(16)
    deadline = time.monotonic() + settings.EBOOK_RENDER_WAIT_SECONDS
    while True:
        found = _stored(guide)
        if found is not None and usable(found):
            return found
        if cache.add(lock_key, token, timeout=settings.EBOOK_LOCK_SECONDS):
            try:
                found = _stored(guide)  # another holder may have finished since our look
                if found is not None and usable(found):
                    return found
                return _render_and_store(guide)
            finally:
                _release(lock_key, token)
        if time.monotonic() >= deadline:
            raise EbookBusyError(
                f"eBook {guide.slug}@{guide.version} is being rendered elsewhere; "
                f"waited {settings.EBOOK_RENDER_WAIT_SECONDS} s"
            )
        time.sleep(POLL_SECONDS)


@dataclass
class _Version:
    pdf: str | None = None
    meta: str | None = None
    rendered_at: datetime | None = None


def _versions(slug: str) -> dict[str, _Version]:
    folder = f"{EBOOK_ROOT}/{slug}"
    versions: dict[str, _Version] = {}
    for filename in default_storage.listdir(folder)[1]:
        stem, _, ext = filename.rpartition(".")
        if ext not in {"pdf", "json"} or not stem:
            continue
        entry = versions.setdefault(stem, _Version())
        setattr(entry, "pdf" if ext == "pdf" else "meta", f"{folder}/{filename}")
    for entry in versions.values():
        meta = _read_meta(entry.meta) if entry.meta else None
        if meta and isinstance(meta.get("rendered_at"), str):
            entry.rendered_at = datetime.fromisoformat(meta["rendered_at"])
        else:
            entry.rendered_at = default_storage.get_modified_time(entry.pdf or entry.meta or "")
    return versions


def ebook_prune(*, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete old versions' PDFs (and JSON) that were superseded more than `keep_days` ago.

    A version is superseded when a newer version of the same guide was rendered; the grace
    period counts from then, not from its own render, so a link mailed just before a
    content change keeps working for `keep_days`. The current version, and the newest
    rendered one of each guide, are never deleted; for a guide removed from content/, the
    newest version's own render time counts. Returns the deleted storage names.
    """
    if keep_days < 0:
        raise ValueError("keep_days must be zero or more")
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    library = get_library()
    try:
        slugs = default_storage.listdir(EBOOK_ROOT)[0]
    except FileNotFoundError:
        return []
    deleted: list[str] = []
    for slug in sorted(slugs):
        guide = library.guide(slug)
        current = guide.version if guide else None
        versions = _versions(slug)
        ordered = sorted(versions.items(), key=lambda item: item[1].rendered_at or cutoff)
        for i, (version, entry) in enumerate(ordered):
            if version == current:
                continue
            if i + 1 < len(ordered):
                superseded_at = ordered[i + 1][1].rendered_at
            elif guide is None:
                superseded_at = entry.rendered_at
            else:
                continue  # the newest render of a live guide: its successor is not built yet
            if superseded_at is None or superseded_at > cutoff:
                continue
            for name in (entry.meta, entry.pdf):  # JSON first: the PDF stops being served
                if name:
                    default_storage.delete(name)
                    deleted.append(name)
    if deleted:
        logger.info("ebooks pruned: %d files older than %d days", len(deleted), keep_days)
    return deleted


# -- "Get the PDF": requests, delivery mail, download links -----------------------------------

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


def ebook_rebuild(*, guide_slug: str) -> bool:
    """Admin: render the guide's current version again (force) in a worker; False if the
    publish failed (broker down). Raises EbookGuideNotFoundError for an unknown guide."""
    _guide(guide_slug)
    return jobs.enqueue_ebook_rebuild(guide_slug)


# -- Download links ----------------------------------------------------------------------------


def ebook_file_find(*, guide_slug: str, version: str) -> EbookFile | None:
    """The complete PDF of exactly this version if it is still in storage (it may have been
    pruned, or the guide removed from content/), else None. Never renders."""
    if not version or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", version):
        return None
    name = ebook_storage_name(guide_slug=guide_slug, version=version)
    meta = _read_meta(_meta_name(name))
    if meta is None or meta.get("version") != version:
        return None
    try:
        size = default_storage.size(name)
    except FileNotFoundError:
        return None
    if size != meta.get("size"):
        return None
    return EbookFile(
        guide_slug=guide_slug,
        version=version,
        name=name,
        size=size,
        pages=int(meta["pages"]),
        render_seconds=float(meta["render_seconds"]),
        rendered_at=datetime.fromisoformat(meta["rendered_at"]),
    )


def ebook_file_for_download(*, guide_slug: str, version: str) -> EbookFile | None:
    """The file a download link serves: the mailed version while it exists, else the
    guide's current version if it has been rendered, else None (nothing to serve yet)."""
    found = ebook_file_find(guide_slug=guide_slug, version=version)
    if found is not None:
        return found
    guide = get_library().guide(guide_slug)
    return _stored(guide) if guide is not None else None


def ebook_file_open(*, ebook: EbookFile) -> File:
    """The stored PDF, open for reading (the caller closes it; FileResponse does)."""
    return default_storage.open(ebook.name, "rb")


def ebook_download_record(*, request_id: int, version: str) -> EbookDownload | None:
    """Log one download through a request's link (None if the request is gone meanwhile)."""
    if not EbookRequest.objects.filter(pk=request_id).exists():
        return None
    return EbookDownload.objects.create(
        request_id=request_id, version=version, created_at=timezone.now()
    )
