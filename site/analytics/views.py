"""The page-view beacon: POST /s/pv/ with the page path as the body (navigator.sendBeacon).

No cookie is read or set, no IP is stored (the per-IP rate limit keys a hash of it in the
cache only), and the answer is always an empty 204 so the browser has nothing to keep.
"""

import logging
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from analytics import services
from core.publicforms import client_ip, is_same_site, rate_limit_hit

logger = logging.getLogger(__name__)

#: Crawlers that run JavaScript announce themselves; their views are not readers.
_BOTS = re.compile(r"bot|crawl|spider|slurp|headless|lighthouse|preview", re.IGNORECASE)


def _empty(status: int) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # no cookie to pair a token with: the Origin check below replaces it
@require_POST
def pageview(request: HttpRequest) -> HttpResponse:
    if not is_same_site(request):
        return _empty(403)
    retry_after = rate_limit_hit(
        scope="pageview",
        key=client_ip(request) or "unknown",
        limit=getattr(settings, "ANALYTICS_BEACON_RATE_LIMIT", 120),
        window=getattr(settings, "ANALYTICS_BEACON_RATE_WINDOW", 600),
    )
    if retry_after is not None:
        return _empty(429)
    if _BOTS.search(request.headers.get("User-Agent", "")):
        return _empty(204)
    body = request.read(services.MAX_PATH + 1)
    path = body.decode("utf-8", errors="replace").strip()
    services.pageview_record(path=path)
    return _empty(204)
