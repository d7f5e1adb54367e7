"""Signup, confirm and unsubscribe pages. Thin: a form validates, one service acts, render.

None of these pages sets a cookie. Link pages (confirm, unsubscribe) show a button on GET and
act only on POST, so mail scanners that fetch links change nothing. Token paths are kept out
of Django's request log, and no view logs a token or an address.
"""

import contextlib
import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from contacts import selectors, services
from contacts.forms import SignupForm
from contacts.models import Subscription
from contacts.services import Actor, ConfirmOutcome, SubscriptionNotFoundError
from core.attribution import FORM_NAME
from core.publicforms import client_ip, public_post
from core.signing import TokenError, TokenExpiredError, read_token
from core.views import error_page, render_once, token_view, unlogged

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]

_CONFIRM_PAYLOAD = re.compile(r"([0-9]{1,18})\.([0-9]{1,9})")


# -- Helpers -----------------------------------------------------------------------------------


def _actor(request: HttpRequest, *, detail: str = "", form_name: str = "") -> Actor:
    return Actor(
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:300],
        form_name=form_name,
        detail=detail,
    )


def _check_inbox(request: HttpRequest) -> HttpResponse:
    """The one answer to every accepted signup, whatever happened (no enumeration)."""
    days = max(1, settings.CONTACTS_CONFIRM_MAX_AGE // 86400)
    return render_once(request, "contacts/check_inbox.html", {"expires_days": days}, key=(days,))


def _bad_link(request: HttpRequest) -> HttpResponse:
    return unlogged(
        error_page(
            request,
            status=400,
            title="This link doesn’t work",
            message=(
                "The link looks damaged: perhaps it was cut or changed when it was copied. "
                "Please open it again from the email, or copy the whole link."
            ),
        )
    )


def _unknown_link(request: HttpRequest) -> HttpResponse:
    return unlogged(
        error_page(
            request,
            status=404,
            title="We couldn’t find this subscription",
            message=(
                "This link belongs to a signup we no longer have: unconfirmed signups are "
                "deleted after a while. You can sign up again at any time."
            ),
        )
    )


def _gone(request: HttpRequest, *, token: str, resend: bool) -> HttpResponse:
    context = {
        "resend_url": reverse("contacts:confirm_resend", args=[token]) if resend else "",
        "expires_days": max(1, settings.CONTACTS_CONFIRM_MAX_AGE // 86400),
    }
    response = render(request, "contacts/link_expired.html", context, status=410)
    return unlogged(response)


def _confirm_payload(token: str, *, max_age: int | None) -> tuple[int, int]:
    """(subscription id, generation) from a confirmation token; TokenError if malformed."""
    value = read_token(services.CONFIRM_PURPOSE, token, max_age=max_age)
    match = _CONFIRM_PAYLOAD.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise TokenError("malformed confirmation payload")
    return int(match.group(1)), int(match.group(2))


def _unsubscribe_payload(token: str) -> int:
    value = read_token(services.UNSUBSCRIBE_PURPOSE, token, max_age=None)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise TokenError("malformed unsubscribe payload")
    return value


# -- Signup ------------------------------------------------------------------------------------


def _signup_page(request: HttpRequest, form: SignupForm | None, *, status: int) -> HttpResponse:
    form_name = "page"
    guide = chapter = None
    if form is not None:
        posted_name = form.data.get("source_form", "")
        form_name = posted_name if FORM_NAME.fullmatch(posted_name) else "page"
        guide = form.data.get("guide", "") or None
        chapter_raw = form.data.get("chapter", "")
        chapter = (
            int(chapter_raw)
            if chapter_raw.isascii() and chapter_raw.isdigit() and len(chapter_raw) < 4
            else None
        )
    box = selectors.signup_box_context(form=form, guide=guide, chapter=chapter, form_name=form_name)
    return render(request, "contacts/subscribe.html", box, status=status)


@public_post(scope="signup")
@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def subscribe(request: HttpRequest) -> HttpResponse:
    """GET: a standalone signup page. POST: the signup box's target (see contacts.forms)."""
    if request.method != "POST":
        return _signup_page(request, None, status=200)
    form = SignupForm(request.POST, auto_id="signup-page-%s")
    trap = form.trap_reason()
    if trap is not None:
        logger.info("signup: dropped quietly (%s)", trap)
        return _check_inbox(request)
    if not form.is_valid():
        return _signup_page(request, form, status=400)
    source = form.source(referer_header=request.headers.get("Referer", ""))
    services.signup_accept(
        email=form.cleaned_data["email"],
        consent_version=form.cleaned_data["consent_version"],
        source=source,
        actor=Actor(
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
            page_path=source.page_path,
            form_name=source.form_name or SignupForm.public_form_name,
        ),
    )
    return _check_inbox(request)


# -- Confirm -----------------------------------------------------------------------------------


@token_view("GET", "HEAD", "POST")
@public_post(scope="confirm", token_page=True)
@never_cache
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button. POST: confirm (idempotent, bound to the link's generation)."""
    expired = False
    try:
        subscription_id, generation = _confirm_payload(
            token, max_age=settings.CONTACTS_CONFIRM_MAX_AGE
        )
    except TokenExpiredError:
        expired = True
        try:
            subscription_id, generation = _confirm_payload(token, max_age=None)
        except TokenError:
            return _bad_link(request)
    except TokenError:
        return _bad_link(request)

    try:
        subscription = selectors.subscription_get(subscription_id=subscription_id)
    except SubscriptionNotFoundError:
        return _unknown_link(request)
    current = generation == subscription.token_generation and not subscription.is_blocked
    status = subscription.status
    if current and status == Subscription.Status.CONFIRMED:
        # Already done (even from an old link): say so, on GET and POST alike.
        return render(request, "contacts/confirmed.html", {"already": True})
    if not current or status != Subscription.Status.PENDING:
        return _gone(request, token=token, resend=False)
    if expired:
        return _gone(request, token=token, resend=True)
    if request.method != "POST":
        return render(request, "contacts/confirm.html")

    try:
        outcome = services.subscription_confirm(
            subscription_id=subscription_id,
            generation=generation,
            actor=_actor(request, detail="confirm page"),
        )
    except SubscriptionNotFoundError:
        return _unknown_link(request)
    if outcome == ConfirmOutcome.STALE:
        return _gone(request, token=token, resend=False)
    already = outcome == ConfirmOutcome.ALREADY_CONFIRMED
    return render(request, "contacts/confirmed.html", {"already": already})


@token_view("POST")
@public_post(scope="confirm", token_page=True)
@never_cache
def confirm_resend(request: HttpRequest, token: str) -> HttpResponse:
    """From the 'link expired' page: mail a fresh link if the signup is still pending."""
    try:
        subscription_id, _ = _confirm_payload(token, max_age=None)
    except TokenError:
        return _bad_link(request)
    with contextlib.suppress(SubscriptionNotFoundError):  # the same answer either way
        services.subscription_confirmation_resend(
            subscription_id=subscription_id, actor=_actor(request, detail="expired link page")
        )
    return _check_inbox(request)


# -- Unsubscribe -------------------------------------------------------------------------------


def _one_click(request: HttpRequest) -> bool:
    """True for an RFC 8058 POST (body List-Unsubscribe=One-Click, urlencoded or multipart)."""
    try:
        return request.POST.get("List-Unsubscribe", "") == "One-Click"
    except Exception:  # an unreadable body is still an unsubscribe request
        return False


# No CSRF, Origin or rate limit here: mail providers POST this cross-site, without cookies,
# on behalf of many users at once (RFC 8058). The signed token is the whole authority.
@csrf_exempt
@token_view("GET", "HEAD", "POST")
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button. POST: unsubscribe now (idempotent, 200, never a redirect)."""
    try:
        subscription_id = _unsubscribe_payload(token)
    except TokenError:
        return _bad_link(request)

    if request.method == "POST":
        detail = "one-click" if _one_click(request) else "unsubscribe page"
        # Erased or purged: not on the list, which is what was asked.
        with contextlib.suppress(SubscriptionNotFoundError):
            services.subscription_unsubscribe(
                subscription_id=subscription_id, actor=_actor(request, detail=detail)
            )
        return render(request, "contacts/unsubscribed.html")

    try:
        subscription = selectors.subscription_get(subscription_id=subscription_id)
    except SubscriptionNotFoundError:
        return _unknown_link(request)
    already = subscription.status == Subscription.Status.UNSUBSCRIBED
    return render(request, "contacts/unsubscribe.html", {"already": already})
