"""Guide pages: thin views over the content index, cached whole by content version."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from guides import selectors
from guides.pagecache import cached_page


@require_safe
@cached_page
def home(request: HttpRequest) -> HttpResponse:
    library = selectors.library_get()
    return render(request, "guides/home.html", {"guides": library.guides})


@require_safe
@cached_page
def guide_detail(request: HttpRequest, guide_slug: str) -> HttpResponse:
    guide = selectors.guide_get(slug=guide_slug)
    return render(request, "guides/guide.html", {"guide": guide})


@require_safe
@cached_page
def chapter_detail(request: HttpRequest, guide_slug: str, chapter_slug: str) -> HttpResponse:
    guide, chapter = selectors.chapter_get(guide_slug=guide_slug, chapter_slug=chapter_slug)
    previous, following = guide.neighbours(chapter)
    context = {"guide": guide, "chapter": chapter, "previous": previous, "next": following}
    return render(request, "guides/chapter.html", context)


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /s/",
        "",
        f"Sitemap: {settings.SITE_URL}{reverse('sitemap')}",
        "",
    ]
    response = HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={settings.PAGE_MAX_AGE}"
    return response
