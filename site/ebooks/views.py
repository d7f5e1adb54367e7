"""The "Get the PDF" form target and the signed download link. Thin: validate, a service, render.

None of these pages sets a cookie. The form answers "check your inbox" whatever the address
(new, known, subscribed, suppressed, throttled). The download link only reads, so a GET may
serve it; its token is kept out of Django's request log, and no view logs a token or an
address.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config import jobs
from contacts.services import Actor
from core.attribution import FORM_NAME
from core.publicforms import client_ip, public_post
from core.signing import TokenError, TokenExpiredError, read_token
from core.views import error_page, render_once, token_view
from ebooks import selectors, services
from ebooks.forms import EbookRequestForm
from guides.content import get_library

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

#: Seconds a visitor is asked to wait while a pruned link's current version renders.
RETRY_AFTER_RENDER = 60


# -- "Get the PDF" ------------------------------------------------------------------------------


def _check_inbox(request: HttpRequest, *, guide_slug: str, newsletter: bool) -> HttpResponse:
    """The one answer to every accepted request, whatever happened (no enumeration)."""
    library = get_library()
    guide = library.guide(guide_slug) if guide_slug else None
    link_days = max(1, settings.EBOOK_LINK_MAX_AGE // 86_400)
    limit_hours = settings.EBOOK_DELIVERY_LIMIT_HOURS
    context = {
        "guide": guide,
        "newsletter": newsletter,
        "link_days": link_days,
        "limit_hours": limit_hours,
    }
    # The guide's text comes from the content: its version is part of the key.
    key = (library.version, guide.slug if guide else "", newsletter, link_days, limit_hours)
    return render_once(request, "ebooks/check_inbox.html", context, key=key)


def _request_page(
    request: HttpRequest, form: EbookRequestForm | None, *, guide: str, status: int
) -> HttpResponse:
    form_name, chapter = "page", None
    if form is not None:
        posted_name = form.data.get("source_form", "")
        form_name = posted_name if FORM_NAME.fullmatch(posted_name) else "page"
        chapter_raw = form.data.get("chapter", "")
        if chapter_raw.isascii() and chapter_raw.isdigit() and len(chapter_raw) < 4:
            chapter = int(chapter_raw)
    if form is not None and "guide" in form.errors:
        guide = ""  # show the choice of guides instead of an unknown one
    box = selectors.pdf_box_context(form=form, guide=guide, chapter=chapter, form_name=form_name)
    return render(request, "ebooks/request.html", box, status=status)


@public_post(scope="ebook")
@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def request_pdf(request: HttpRequest) -> HttpResponse:
    """GET: a standalone "Get the PDF" page (?guide=<slug> picks one). POST: the box's target."""
    if request.method != "POST":
        slug = request.GET.get("guide", "")
        slug = slug if get_library().guide(slug) is not None else ""
        return _request_page(request, None, guide=slug, status=200)
    form = EbookRequestForm(request.POST, auto_id="ebook-page-%s")
    trap = form.trap_reason()
    if trap is not None:
        logger.info("ebook request: dropped quietly (%s)", trap)
        guide = request.POST.get("guide", "")
        return _check_inbox(
            request, guide_slug=guide, newsletter=bool(request.POST.get("newsletter"))
        )
    if not form.is_valid():
        posted_guide = form.cleaned_data.get("guide", "")
        return _request_page(request, form, guide=posted_guide, status=400)
    data = form.cleaned_data
    source = form.source(referer_header=request.headers.get("Referer", ""))
    services.ebook_request_accept(
        email=data["email"],
        guide_slug=data["guide"],
        source=source,
        actor=Actor(
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
            page_path=source.page_path,
            form_name=source.form_name or EbookRequestForm.public_form_name,
            detail="get the PDF form",
        ),
        newsletter_opt_in=data["newsletter"],
        consent_version=data["consent_version"] if data["newsletter"] else "",
    )
    return _check_inbox(request, guide_slug=data["guide"], newsletter=data["newsletter"])


# -- Download link ------------------------------------------------------------------------------


def _request_id(token: str, *, max_age: int | None) -> int:
    value = read_token(services.DOWNLOAD_PURPOSE, token, max_age=max_age)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise TokenError("malformed download payload")
    return value


def _not_found(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        status=404,
        title="This download link doesn’t work",
        message=(
            "The link looks damaged, or it belongs to a request we no longer have. Please "
            "open it again from the email, copying the whole link, or ask for the eBook again "
            "on any guide page."
        ),
    )


def _expired(request: HttpRequest, *, guide_slug: str) -> HttpResponse:
    guide = get_library().guide(guide_slug) if guide_slug else None
    context = {
        "guide": guide,
        "request_url": reverse("ebooks:request") + (f"?guide={guide.slug}" if guide else ""),
        "link_days": max(1, settings.EBOOK_LINK_MAX_AGE // 86_400),
    }
    return render(request, "ebooks/link_expired.html", context, status=410)


def _not_ready(request: HttpRequest) -> HttpResponse:
    response = error_page(
        request,
        status=503,
        title="Your eBook is being prepared",
        message=(
            "We’ve updated this guide since we sent your link, and its new edition is being "
            "typeset right now. Please open the link again in a minute."
        ),
    )
    response["Retry-After"] = str(RETRY_AFTER_RENDER)
    return response


def _gone(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        status=410,
        title="This eBook is no longer available",
        message=(
            "The guide this link belongs to has been withdrawn. Have a look at our other guides."
        ),
    )


@token_view("GET", "HEAD")
def download(request: HttpRequest, token: str) -> HttpResponse:
    """Stream the request's PDF (the mailed version, or the current one if it was pruned)."""
    try:
        request_id = _request_id(token, max_age=settings.EBOOK_LINK_MAX_AGE)
    except TokenExpiredError:
        try:
            request_id = _request_id(token, max_age=None)
        except TokenError:
            return _not_found(request)
        found = selectors.ebook_request_for_link(request_id=request_id)
        return _expired(request, guide_slug=found.guide_slug if found else "")
    except TokenError:
        return _not_found(request)

    ebook_request = selectors.ebook_request_for_link(request_id=request_id)
    if ebook_request is None:
        return _not_found(request)
    slug = ebook_request.guide_slug
    ebook = services.ebook_file_for_download(guide_slug=slug, version=ebook_request.version)
    if ebook is None:
        if get_library().guide(slug) is None:
            return _gone(request)
        jobs.enqueue_ebook_render(slug)  # idempotent and single-flight: safe from every click
        return _not_ready(request)

    if request.method == "GET":  # a HEAD (link preview, scanner) reads nothing, counts nothing
        services.ebook_download_record(request_id=request_id, version=ebook.version)
    response = FileResponse(
        services.ebook_file_open(ebook=ebook),
        as_attachment=True,
        filename=services.ebook_download_filename(guide_slug=slug),
        content_type="application/pdf",
    )
    response["X-Robots-Tag"] = "noindex"
    return response
