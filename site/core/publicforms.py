"""Abuse protection shared by every public (anonymous) form: signup, "Get the PDF", ...

Anonymous pages are cookie-free so that a CDN can cache them; a public form therefore has no
CSRF cookie to echo. It is protected instead by the following
(docs/decisions/0001-public-forms-without-csrf-cookie.md):

- `public_post`: a view decorator that marks the view csrf_exempt, answers 403 unless the
  POST's Origin (or, failing that, Referer) is our own SITE_URL origin, and applies a per-IP
  fixed-window rate limit in the cache (429 with Retry-After; the limit fails open when the
  cache is down).
- `PublicForm`: a form base class with a honeypot field and a signed timestamp. A filled
  honeypot or a stamp that is missing, forged, too fresh or too old is a *quiet* rejection:
  the view answers exactly as for a success and does nothing (`PublicForm.trap_reason`).
- `client_ip`: the visitor's address, honouring settings.NUM_PROXIES for X-Forwarded-For.
"""

import functools
import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.views import error_page

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

STAMP_SALT = "chapterhouse.publicform.stamp"
#: Name of the honeypot input: bots fill in anything called like a URL field.
HONEYPOT_FIELD = "website"
STAMP_FIELD = "stamp"


# -- Client IP ---------------------------------------------------------------------------------


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's IP address.

    With NUM_PROXIES = n > 0 trusted proxies in front of us, each appending the address it
    saw to X-Forwarded-For, the client is the n-th entry from the right; anything left of it
    was written by the client and is not trusted. With 0, REMOTE_ADDR is the client.
    """
    remote = _valid_ip(request.META.get("REMOTE_ADDR", ""))
    num_proxies = getattr(settings, "NUM_PROXIES", 0)
    if num_proxies <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if not forwarded:
        return remote
    entry = forwarded[-num_proxies] if len(forwarded) >= num_proxies else forwarded[0]
    return _valid_ip(entry) or remote


# -- Same-site check ---------------------------------------------------------------------------


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower(), port or default


def is_same_site(request: HttpRequest, *, allow_null_origin: bool = False) -> bool:
    """True when the request's Origin, or failing that its Referer, is SITE_URL's origin.

    Browsers send Origin on every cross-site and same-site POST; "null" (sandboxed frames,
    privacy redirects) and a missing header with no Referer both count as foreign, except
    that `allow_null_origin` accepts "null": a page served with `Referrer-Policy:
    no-referrer` (our token pages) makes browsers send `Origin: null` on its own form POSTs.
    """
    ours = _origin_of(settings.SITE_URL)
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null":
            return allow_null_origin
        return _origin_of(origin) == ours
    referer = request.headers.get("Referer")
    return referer is not None and _origin_of(referer) == ours


# -- Rate limit --------------------------------------------------------------------------------


def rate_limit_hit(*, scope: str, key: str, limit: int, window: int) -> int | None:
    """Count one hit for (scope, key) in a fixed window; return Retry-After seconds when over.

    Returns None when the hit is allowed, and also when the cache is unreachable: the limit
    fails open (logged), because a cache outage must not take the forms down with it.
    """
    if limit <= 0 or window <= 0:
        return None
    now = time.time()
    bucket = int(now // window)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]  # no raw IP in the cache
    cache_key = f"rl:{scope}:{digest}:{bucket}"
    try:
        cache.add(cache_key, 0, timeout=window + 1)
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr: count this hit as the first
        count = 1
    except Exception:
        logger.warning("rate limit %s: cache unavailable, allowing the request", scope)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((bucket + 1) * window - now))


# -- The view decorator ------------------------------------------------------------------------


def forbidden_cross_site(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        status=403,
        title="This form must be sent from our own pages",
        message=(
            "We couldn’t tell that this form was sent from one of our pages, so we didn’t "
            "accept it. Please open the page again and resend the form from there. If you "
            "use a privacy extension that removes the Origin and Referer headers, allow them "
            "for this site."
        ),
    )


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = max(1, math.ceil(retry_after / 60))
    response = error_page(
        request,
        status=429,
        title="Too many attempts",
        message=(
            f"We received many forms from your network in a short time. Please try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}."
        ),
    )
    response["Retry-After"] = str(retry_after)
    return response


def public_post(
    *,
    scope: str,
    limit: int | None = None,
    window: int | None = None,
    same_site: bool = True,
    token_page: bool = False,
) -> Callable[[View], View]:
    """Protect a view that receives anonymous POSTs without a CSRF cookie.

    POST: 403 page unless same-site (skip with same_site=False only for endpoints that other
    sites must reach, such as RFC 8058 one-click unsubscribe), then 429 page when the
    client's IP is over PUBLIC_FORM_RATE_LIMIT per PUBLIC_FORM_RATE_WINDOW seconds (or the
    given limit/window). Other methods pass through untouched. `token_page=True` is for forms
    on no-referrer token pages (confirm): their POSTs carry `Origin: null`, which is accepted
    there (the signed token in the URL is what authorises the action); a foreign origin is not.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                if same_site and not is_same_site(request, allow_null_origin=token_page):
                    logger.info("public form %s: refused a cross-site POST", scope)
                    return forbidden_cross_site(request)
                max_hits = settings.PUBLIC_FORM_RATE_LIMIT if limit is None else limit
                retry_after = None
                if max_hits > 0:  # 0 turns the limit off: no need to work out the client
                    retry_after = rate_limit_hit(
                        scope=scope,
                        key=client_ip(request) or "unknown",
                        limit=max_hits,
                        window=settings.PUBLIC_FORM_RATE_WINDOW if window is None else window,
                    )
                if retry_after is not None:
                    logger.info("public form %s: rate limit reached", scope)
                    return too_many_requests(request, retry_after)
            return view(request, *args, **kwargs)

        # No CSRF cookie exists on our cookie-free pages: the same-site check above and the
        # signed form timestamp replace it (see the decision record).
        return csrf_exempt(wrapper)

    return decorate


# -- Honeypot and signed timestamp -------------------------------------------------------------


class _StampSigner(signing.TimestampSigner):
    def __init__(self, *, now: float | None = None) -> None:
        super().__init__(salt=STAMP_SALT)
        self._now = now

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time() if self._now is None else self._now))


def form_stamp_make(form_name: str, *, now: float | None = None) -> str:
    """A signed 'this form was rendered at <time>' token for the hidden stamp field."""
    return _StampSigner(now=now).sign(form_name)


def form_stamp_problem(stamp: str, form_name: str, *, now: float | None = None) -> str | None:
    """Why `stamp` is unacceptable for `form_name` ('missing', 'forged', 'too_fast',
    'too_old'), or None when it is fine."""
    if not stamp:
        return "missing"
    signer = _StampSigner()
    try:
        value = signer.unsign(stamp)
        issued = signing.b62_decode(stamp.rsplit(signer.sep, 2)[-2])
    except (signing.BadSignature, ValueError, IndexError):
        return "forged"
    if value != form_name:
        return "forged"
    age = (time.time() if now is None else now) - issued
    if age < settings.PUBLIC_FORM_MIN_SECONDS:
        return "too_fast"
    if age > settings.PUBLIC_FORM_MAX_AGE:
        return "too_old"
    return None


class PublicForm(forms.Form):
    """Base for anonymous forms: adds the honeypot and the signed timestamp.

    Subclasses set `public_form_name`; templates render `form.honeypot_field_name` inside a
    hidden block and the stamp from `form_stamp_make(name)` (or `PublicForm.initial_stamp`).
    A view calls `trap_reason()` before `is_valid()` and, when it returns a reason, answers
    exactly as for a success without doing anything.
    """

    public_form_name: ClassVar[str] = "public"

    website = forms.CharField(required=False, max_length=200, label="Leave this field empty")
    stamp = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    @classmethod
    def initial_stamp(cls) -> str:
        return form_stamp_make(cls.public_form_name)

    def trap_reason(self) -> str | None:
        """'honeypot', or a stamp problem, or None for a form a person plausibly sent."""
        if self.data.get(HONEYPOT_FIELD, ""):
            return "honeypot"
        stamp = self.data.get(STAMP_FIELD, "")
        return form_stamp_problem(stamp if isinstance(stamp, str) else "", self.public_form_name)
