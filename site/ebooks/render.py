"""The eBook as a PDF: a guide in, PDF bytes out (WeasyPrint, with a restricted URL fetcher).

Pure: no database, no storage, no network. A render reads only templates/ebooks/, the fonts
under FONT_DIR and the guide's own content folder; any other fetch aborts it with
EbookRenderError. ebooks.services caches the result per content version, and only Celery
tasks and the build command call it (a render costs seconds and ~100 MB).

Importing this module imports WeasyPrint (≈ 0.7 s): workers import it once at start-up,
web processes never need to.
"""

import hashlib
import logging
import mimetypes
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from guides.content import Chapter, Guide

# WeasyPrint logs an INFO line per page and pass, fontTools one per font: hundreds of lines
# per render that say nothing when all is well. Warnings and errors still get through.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
logging.getLogger("fontTools").setLevel(logging.WARNING)

#: The tagged, accessible variant; ≈ +10 % render time (see bench/ebook).
PDF_VARIANT = "pdf/ua-1"
#: Cover accents, picked per guide from its slug (book.css has one rule per name).
ACCENTS = ("amber", "coral", "teal", "sky", "rose")

_ID_ATTR = re.compile(r'(\sid=")([^"]+)(")')
_FRAGMENT_HREF = re.compile(r'(\shref="#)([^"]+)(")')


class EbookRenderError(Exception):
    """The eBook could not be rendered; the message says why (safe for logs, not for users)."""


class EbookFetchRefusedError(EbookRenderError):
    """The document asked for a resource outside the eBook's own files."""


@dataclass(frozen=True)
class RenderedPdf:
    pdf: bytes
    pages: int
    #: Wall-clock seconds for layout and PDF writing (template rendering included).
    seconds: float


# -- The restricted fetcher -----------------------------------------------------------------


class RestrictedURLFetcher(URLFetcher):
    """Fetch only `data:` URLs and `file:` URLs whose real path lies inside `roots`.

    Everything else (http, https, ftp, other files, `..` traversal, symlinks pointing out of
    a root) raises EbookFetchRefusedError. The fetcher is built with `fail_on_errors=True`, so
    WeasyPrint turns any failed fetch into FatalURLFetchingError and stops the render instead
    of logging a warning and carrying on. Redirects cannot happen: no network scheme is
    ever opened (and `allow_redirects=False` besides). After `seal()` every fetch is refused:
    layout has loaded all fonts and images by then, so a later fetch can only be an
    attachment. Refusals are also kept in `refused`, for the rare WeasyPrint code path that
    swallows exceptions (SVG drawing).
    """

    def __init__(self, *, roots: Iterable[Path]) -> None:
        super().__init__(
            timeout=5,
            allowed_protocols={"data", "file"},
            allow_redirects=False,
            fail_on_errors=True,
        )
        self.roots = tuple(Path(root).resolve(strict=True) for root in roots)
        self.refused: list[str] = []
        self._sealed = False

    def seal(self) -> None:
        """Refuse every fetch from now on."""
        self._sealed = True

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        try:
            return self._fetch(url, headers)
        except EbookFetchRefusedError as exc:
            self.refused.append(str(exc))
            raise

    def _fetch(self, url: str, headers: dict[str, str] | None) -> URLFetcherResponse:
        shown = url if len(url) <= 120 else url[:117] + "..."
        if self._sealed:
            raise EbookFetchRefusedError(f"fetch after layout refused (no attachments): {shown}")
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = self.resolve(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(
                path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type}
            )
        raise EbookFetchRefusedError(
            f"{scheme or 'relative'} URL refused: an eBook may load only data: URLs and its own "
            f"files: {shown}"
        )

    def resolve(self, url: str) -> Path:
        """The real path of a `file:` URL, if it lies inside one of the roots; else refuse."""
        parts = urlsplit(url)
        if parts.netloc not in {"", "localhost"}:
            raise EbookFetchRefusedError(f"file URL on another host refused: {url}")
        path = Path(url2pathname(parts.path))
        if not path.is_absolute():
            raise EbookFetchRefusedError(f"relative file URL refused: {url}")
        try:
            real = path.resolve()  # follows every symlink, removes every '..'
        except (OSError, RuntimeError) as exc:
            raise EbookFetchRefusedError(f"unresolvable file URL refused: {url}") from exc
        if not any(real.is_relative_to(root) for root in self.roots):
            raise EbookFetchRefusedError(f"file outside the eBook's folders refused: {url}")
        if not real.is_file():
            raise EbookFetchRefusedError(f"file not found: {url}")
        return real


# -- The engine -----------------------------------------------------------------------------


def html_to_pdf(
    *,
    html: str,
    css: str,
    base_dir: Path,
    css_base_dir: Path,
    roots: Sequence[Path],
    identifier: bytes | None = None,
    pdf_variant: str | None = PDF_VARIANT,
) -> RenderedPdf:
    """Render `html` styled by `css` with the restricted fetcher; return the PDF.

    Relative URLs in the HTML resolve against `base_dir`, those in the CSS against
    `css_base_dir`; only files inside `roots` (and data: URLs) can be loaded. Fonts are
    subset (never embedded whole), attachments are refused, and any refused or failed fetch
    raises EbookRenderError. `identifier` makes the PDF's /ID (and so its bytes)
    reproducible.
    """
    started = time.perf_counter()
    fetcher = RestrictedURLFetcher(roots=roots)
    font_config = FontConfiguration()
    try:
        stylesheet = CSS(
            string=css,
            base_url=css_base_dir.as_uri() + "/",
            url_fetcher=fetcher,
            font_config=font_config,
        )
        document = HTML(string=html, base_url=base_dir.as_uri() + "/", url_fetcher=fetcher).render(
            stylesheets=[stylesheet], font_config=font_config
        )
        _refuse_attachments(document)
        fetcher.seal()
        pdf = document.write_pdf(
            attachments=[],
            pdf_variant=pdf_variant,
            pdf_identifier=identifier or False,
            full_fonts=False,
            finisher=_open_with_outline,
        )
    except FatalURLFetchingError as exc:
        cause = exc.__cause__
        error = type(cause) if isinstance(cause, EbookRenderError) else EbookRenderError
        raise error(f"eBook render aborted: {cause or exc}") from exc
    if fetcher.refused:
        raise EbookFetchRefusedError(f"eBook render aborted: {fetcher.refused[0]}")
    if not pdf:
        raise EbookRenderError("WeasyPrint produced an empty PDF")
    return RenderedPdf(
        pdf=pdf, pages=len(document.pages), seconds=round(time.perf_counter() - started, 3)
    )


def _refuse_attachments(document: Document) -> None:
    if document.metadata.attachments:
        raise EbookFetchRefusedError("<link rel=attachment> refused: an eBook has no attachments")
    for page in document.pages:
        for link_type, target, *_ in page.links:
            if link_type == "attachment":
                raise EbookFetchRefusedError(f"<a rel=attachment> refused: {target}")


def _open_with_outline(document: Document, pdf: Any) -> None:
    """Open the PDF with its bookmarks panel shown (chapters and sections)."""
    pdf.catalog["PageMode"] = "/UseOutlines"


# -- The book -------------------------------------------------------------------------------


def chapter_anchor(chapter: Chapter) -> str:
    """The id of a chapter in the book; its headings' ids are prefixed with it and '-'."""
    return f"c{chapter.number:02d}"


def prefix_ids(html: str, prefix: str) -> str:
    """Prefix every id attribute and every same-document href ("#...") in `html`.

    Chapters are concatenated into one document, and their heading ids (which drive the
    contents' page numbers, the bookmarks and internal links) repeat across chapters. The
    regexes are safe on this input: it is markdown-it output with raw HTML off, which always
    writes attributes double-quoted and escapes '"' in text as &quot;.
    """
    html = _ID_ATTR.sub(lambda m: f"{m[1]}{prefix}{m[2]}{m[3]}", html)
    return _FRAGMENT_HREF.sub(lambda m: f"{m[1]}{prefix}{m[2]}{m[3]}", html)


def book_context(*, guide: Guide, now: datetime) -> dict[str, Any]:
    """The template context of templates/ebooks/book.html: the guide's content, nothing else."""
    chapters = []
    for chapter in guide.chapters:
        anchor = chapter_anchor(chapter)
        chapters.append(
            {
                "number": chapter.number,
                "title": chapter.title,
                "summary": chapter.summary,
                "anchor": anchor,
                "html": _trusted(prefix_ids(chapter.html, f"{anchor}-")),
                "sections": [
                    {"text": h.text, "anchor": f"{anchor}-{h.anchor}"} for h in chapter.sections
                ],
            }
        )
    digest = hashlib.sha256(guide.slug.encode()).digest()
    return {
        "guide": guide,
        "chapters": chapters,
        "introduction": _trusted(prefix_ids(guide.intro_html, "intro-")),
        "authors": _join_names(guide.authors),
        "publisher": settings.SITE_NAME,
        "year": now.year,
        "edition": guide.version,
        "created": now.replace(microsecond=0).isoformat(),
        "keywords": [guide.title, guide.audience, *(c.title for c in guide.chapters)],
        "accent": ACCENTS[digest[0] % len(ACCENTS)],
    }


def ebook_render(
    *, guide: Guide, now: datetime | None = None, pdf_variant: str | None = PDF_VARIANT
) -> RenderedPdf:
    """Render the whole eBook of `guide`: cover, title pages, contents, every chapter.

    `now` sets the copyright year and the PDF's creation date (default: the current time);
    `pdf_variant=None` drops PDF/UA tagging (benchmarks only: the eBook ships tagged).
    Raises EbookRenderError when the document asks for anything outside the eBook's own
    files or the render fails; never returns a partial PDF.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    html = render_to_string("ebooks/book.html", book_context(guide=guide, now=now))
    template_dir = Path(settings.EBOOK_TEMPLATE_DIR)
    font_dir = Path(settings.FONT_DIR)
    content_dir = guide.chapters[0].source.parent
    result = html_to_pdf(
        html=html,
        css=(template_dir / "book.css").read_text(encoding="utf-8"),
        base_dir=content_dir,
        css_base_dir=font_dir,
        roots=(font_dir, template_dir, content_dir),
        identifier=f"{guide.slug}:{guide.version}".encode(),
        pdf_variant=pdf_variant,
    )
    return RenderedPdf(
        pdf=result.pdf, pages=result.pages, seconds=round(time.perf_counter() - started, 3)
    )


def ebook_render_pdf(*, guide: Guide) -> bytes:
    """The eBook of `guide` as PDF bytes (see ebook_render)."""
    return ebook_render(guide=guide).pdf


def _trusted(html: str) -> SafeString:
    # Rendered from our own Markdown with raw HTML off (guides.content): safe to insert.
    return mark_safe(html)  # noqa: S308


def _join_names(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
