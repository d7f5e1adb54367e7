"""Reads for "Get the PDF": the box on pages, download links, and the admin's lists."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet

from contacts import consent
from contacts.selectors import public_box_form
from ebooks.forms import EbookRequestForm
from ebooks.models import EbookDownload, EbookRequest
from ebooks.services import EbookFile, ebook_file_get
from guides.content import Chapter, Guide, get_library


def pdf_box_context(
    *,
    form: EbookRequestForm | None = None,
    guide: Guide | str | None = None,
    chapter: Chapter | int | None = None,
    form_name: str = "pdf",
) -> dict[str, Any]:
    """Everything templates/ebooks/pdf_box.html needs; no query, nothing per visitor.

    `form` is a bound form shown again with its errors, or None for a fresh box. `guide`
    and `chapter` are content objects (from a page) or a slug and a number (from a posted
    form); without a guide the box offers a choice of every guide.
    """
    form, guide, version = public_box_form(
        EbookRequestForm, form=form, guide=guide, chapter=chapter, form_name=form_name,
        prefix="ebook",
    )  # fmt: skip
    return {
        "form": form,
        "box_id": f"ebook-{form_name}",
        "guide": guide,
        "guides": () if guide else get_library().guides,
        "consent_version": version,
        "consent_text": consent.consent_text(version),
        "link_days": max(1, settings.EBOOK_LINK_MAX_AGE // 86_400),
    }


def ebook_request_for_link(*, request_id: int) -> EbookRequest | None:
    """The request a download link names (guide and mailed version only), or None if gone."""
    return EbookRequest.objects.only("guide_slug", "version").filter(pk=request_id).first()


# -- Admin ---------------------------------------------------------------------------------


def ebook_requests_for_admin() -> QuerySet[EbookRequest]:
    """Requests with their contact and mail, and their download count: one query per page."""
    return EbookRequest.objects.select_related("contact", "mail").annotate(
        download_count=Count("downloads")
    )


def ebook_downloads_for_admin() -> QuerySet[EbookDownload]:
    return EbookDownload.objects.select_related("request", "request__contact")


@dataclass(frozen=True)
class GuideEbook:
    """One line of the admin's "eBook files" page."""

    slug: str
    title: str
    ebook_title: str
    version: str
    #: The current version's file, or None while it has not been rendered.
    file: EbookFile | None
    requests: int
    downloads: int


def guide_ebooks_overview() -> list[GuideEbook]:
    """Every guide's current eBook (from the storage metadata), with request and download
    counts per guide: two grouped queries, whatever the number of guides."""
    requests = dict(
        EbookRequest.objects.values_list("guide_slug").annotate(n=Count("pk")).order_by()
    )
    downloads = dict(
        EbookDownload.objects.values_list("request__guide_slug").annotate(n=Count("pk")).order_by()
    )
    return [
        GuideEbook(
            slug=guide.slug,
            title=guide.title,
            ebook_title=guide.ebook_title,
            version=guide.version,
            file=ebook_file_get(guide_slug=guide.slug),
            requests=requests.get(guide.slug, 0),
            downloads=downloads.get(guide.slug, 0),
        )
        for guide in get_library().guides
    ]
