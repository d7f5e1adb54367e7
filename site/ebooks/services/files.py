"""eBook files: one PDF per guide and content version, rendered once, kept in default_storage.

Storage layout: `ebooks/<guide>/<version>.pdf` and beside it `ebooks/<guide>/<version>.json`
(size, pages, render_seconds, rendered_at). The JSON is written after the PDF and marks it
complete: a PDF without its JSON (a render that died half-way) is never served. Any worker
on any machine can serve any version, because the storage is shared (filesystem locally,
object storage in production) and the content version is part of the name.

Rendering takes seconds, so only Celery tasks and `manage.py build_ebooks` call
ebook_get_or_render(); views read with ebook_file_get(). WeasyPrint is imported on the first
render, never by a web process that only reads. A download link serves the file that
ebook_file_for_download() picks.
"""

import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.utils import timezone

from config import jobs
from core.exceptions import AppError
from guides.content import Guide, get_library

# The package's name, as before it was split: log lines and any filter on them are unchanged.
logger = logging.getLogger("ebooks.services")


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


def _complete(*, guide_slug: str, version: str) -> EbookFile | None:
    """The PDF of this version if it is complete (its JSON is there and matches it), else None."""
    name = ebook_storage_name(guide_slug=guide_slug, version=version)
    meta = _read_meta(_meta_name(name))
    if meta is None or meta.get("version") != version:
        return None
    try:
        size = default_storage.size(name)
    except FileNotFoundError:
        return None
    if size != meta.get("size"):
        return None  # replaced or truncated behind our back: render again
    return EbookFile(
        guide_slug=guide_slug,
        version=version,
        name=name,
        size=size,
        pages=int(meta["pages"]),
        render_seconds=float(meta["render_seconds"]),
        rendered_at=datetime.fromisoformat(meta["rendered_at"]),
    )


def _stored(guide: Guide) -> EbookFile | None:
    """The complete PDF of the guide's current version, if there is one."""
    return _complete(guide_slug=guide.slug, version=guide.version)


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


def ebook_rebuild(*, guide_slug: str) -> bool:
    """Admin: render the guide's current version again (force) in a worker; False if the
    publish failed (broker down). Raises EbookGuideNotFoundError for an unknown guide."""
    _guide(guide_slug)
    return jobs.enqueue_ebook_rebuild(guide_slug)


# -- Files for download links ------------------------------------------------------------------


def ebook_file_find(*, guide_slug: str, version: str) -> EbookFile | None:
    """The complete PDF of exactly this version if it is still in storage (it may have been
    pruned, or the guide removed from content/), else None. Never renders."""
    if not version or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", version):
        return None
    return _complete(guide_slug=guide_slug, version=version)


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
