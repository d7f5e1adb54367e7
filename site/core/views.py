"""Friendly error pages (rendered without a request context so they cannot fail twice), the
decorator for pages whose URL holds a signed token, and `render_once` for fixed answers."""

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.shortcuts import render
from django.template import loader

logger = logging.getLogger(__name__)
View = Callable[..., HttpResponse]

#: Bodies rendered by render_once, per process; bounded (the keys are few by construction).
_RENDERED: dict[tuple[object, ...], bytes] = {}
_RENDERED_MAX = 256


def render_once(
    request: HttpRequest, template: str, context: dict[str, Any], *, key: tuple[object, ...]
) -> HttpResponse:
    """Render a page whose body depends only on `key`, the path and the year, once per process.

    For the fixed answers of the public forms ("check your inbox"), sent on every POST. The
    caller's `key` must capture everything in `context` (and the content version, when the
    context holds guide data); pages carry no per-request data (no CSRF token, no CSP nonce).
    """
    full_key = (template, request.path, dt.datetime.now(tz=dt.UTC).year, *key)
    body = _RENDERED.get(full_key)
    if body is None:
        response = render(request, template, context)
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[full_key] = response.content
        return response
    return HttpResponse(body)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    body = loader.render_to_string("404.html", {"request_path": request.path}, request=request)
    return HttpResponseNotFound(body)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Oversized bodies, too many fields, bad hosts: a page, not Django's bare text."""
    body = loader.render_to_string(
        "error.html",
        {
            "title": "We couldn’t read that request",
            "message": "It was too large or malformed. Please go back and try again.",
            "status": 400,
        },
        request=request,
    )
    return HttpResponse(body, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: context processors or the database may be what failed.
    return HttpResponseServerError(loader.render_to_string("500.html"))


def error_page(request: HttpRequest, *, status: int, title: str, message: str) -> HttpResponse:
    """A plain page for 400/403/410/429 answers, with the status set."""
    body = loader.render_to_string(
        "error.html", {"title": title, "message": message, "status": status}, request=request
    )
    response = HttpResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


def unlogged(response: HttpResponse) -> HttpResponse:
    """Keep Django's 'Bad Request: <path>' line out of the log: the path holds a token.

    `_has_been_logged` is the flag django.utils.log.log_response itself sets and honours.
    """
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def token_view(*methods: str) -> Callable[[View], View]:
    """For views with a signed token in their path (confirm, unsubscribe, download).

    Allows only `methods`; every answer is `Cache-Control: no-store` and
    `Referrer-Policy: no-referrer` (the token must not leak into caches or onward Referers);
    error answers (including those of inner decorators) stay out of Django's request log, which
    would print the path; one line without it is logged instead.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response: HttpResponse = HttpResponseNotAllowed(methods)
            else:
                response = view(request, *args, **kwargs)
            response["Cache-Control"] = "no-store"
            response["Referrer-Policy"] = "no-referrer"
            if response.status_code >= 400:
                logger.info("%s: answered %s", view.__name__, response.status_code)
                unlogged(response)
            return response

        return wrapper

    return decorate
