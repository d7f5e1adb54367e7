"""Baselines measured in the same server as our pages (bench/pages)."""

import os
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_page

from guides import views

_page = Path(os.environ.get("BENCH_PAGE_FILE", "/dev/null"))


@cache_page(3600)
def cached_bytes(request: HttpRequest) -> HttpResponse:
    """A bare Django view returning the same bytes as our chapter page, from cache_page."""
    return HttpResponse(_page.read_bytes(), content_type="text/html; charset=utf-8")


#: Our chapter view without the page cache: render only (require_safe -> cached_page -> view).
render_only = views.chapter_detail.__wrapped__.__wrapped__

urlpatterns = [
    path("_bench/cached/", cached_bytes),
    path("_bench/render/<slug:guide_slug>/<slug:chapter_slug>/", render_only),
    path("", include("config.urls")),
]
