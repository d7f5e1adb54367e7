"""Anymail's webhook views, guarded so a malformed body is a 400, never a 500.

Anymail 15.2 lets a JSON parse error escape some ESP views (Postmark, SendGrid, SES). A 500
tells the ESP to retry forever and fills the error log; a 400 is the honest answer. Database
errors still propagate (500), so the ESP retries once we are back.
"""

import functools
import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import URLPattern

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailError

logger = logging.getLogger(__name__)


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (ValueError, KeyError, TypeError, AnymailError) as exc:
            logger.warning("refused a malformed ESP webhook (%s)", type(exc).__name__)
            return HttpResponseBadRequest("Malformed webhook payload.")

    return wrapper


urlpatterns = [
    URLPattern(p.pattern, guarded(p.callback), p.default_args, p.name)
    for p in anymail_urls.urlpatterns
    if isinstance(p, URLPattern)
]
app_name = anymail_urls.app_name
