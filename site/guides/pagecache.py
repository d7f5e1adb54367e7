"""Whole-page cache for anonymous pages, keyed by the content version.

Rendered pages are stored with their ETag. The key also holds the "fragment version" strings
returned by the callables named in settings.PAGE_FRAGMENT_VERSIONS (for example the
subscriber-count label that the signup box prints), so a page is re-rendered when what it
shows changes, without a database query per view. Responses carry Cache-Control and ETag and
set no cookie, so a CDN or nginx micro-cache can keep them.
"""

import functools
import hashlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control
from django.utils.module_loading import import_string

from guides.content import get_library

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


@functools.cache
def _fragment_sources() -> tuple[Callable[[], str], ...]:
    return tuple(import_string(path) for path in getattr(settings, "PAGE_FRAGMENT_VERSIONS", ()))


def _key(request: HttpRequest) -> str:
    parts = [get_library().version, *(source() for source in _fragment_sources())]
    return "page:" + hashlib.sha256("|".join([*parts, request.path]).encode()).hexdigest()[:32]


def _cache_get(key: str) -> tuple[bytes, str] | None:
    try:
        return cache.get(key)
    except Exception:  # a cache outage costs a render, never an error page
        logger.warning("page cache unavailable (get)", exc_info=True)
        return None


def _cache_set(key: str, value: tuple[bytes, str]) -> None:
    if settings.PAGE_CACHE_SECONDS <= 0:  # page cache switched off
        return
    try:
        cache.set(key, value, timeout=settings.PAGE_CACHE_SECONDS)
    except Exception:
        logger.warning("page cache unavailable (set)", exc_info=True)


def _finish(request: HttpRequest, body: bytes, etag: str) -> HttpResponse:
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="text/html; charset=utf-8")
    response["ETag"] = etag
    response["X-Frame-Options"] = "DENY"  # as XFrameOptionsMiddleware would (it may not run)
    patch_cache_control(response, public=True, max_age=settings.PAGE_MAX_AGE)
    return response


#: Paths never served from the page cache by the middleware (the views decide for themselves).
_UNCACHED_PREFIXES = ("/admin/", "/s/", "/anymail/", "/static/", "/healthz", "/readyz")


class PageCacheMiddleware:
    """Answer GET/HEAD for a page already in the page cache before the rest of the stack runs.

    Sits right after SecurityMiddleware and the CSP middleware, so hits still carry every
    security header, but skip sessions, auth, messages and URL resolution: a cached chapter
    page costs two cache reads. Misses fall through to the view's `cached_page` decorator,
    which renders and stores the page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD") and not request.path.startswith(_UNCACHED_PREFIXES):
            hit = _cache_get(_key(request))
            if hit is not None:
                return _finish(request, *hit)
        return self.get_response(request)


def cached_page(view: View) -> View:
    """Serve GET/HEAD from the page cache; render and store on a miss (200 answers only)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        key = _key(request)
        hit = _cache_get(key)
        if hit is None:
            response = view(request, *args, **kwargs)
            if response.status_code != 200:
                return response
            body = response.content
            hit = (body, '"' + hashlib.sha256(body).hexdigest()[:24] + '"')
            _cache_set(key, hit)
        return _finish(request, *hit)

    return wrapper
