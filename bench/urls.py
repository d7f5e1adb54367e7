"""Baselines measured in the same server as our pages (bench/pages)."""

import os
from pathlib import Path

from django import forms
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_page
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from guides import views

_page = Path(os.environ.get("BENCH_PAGE_FILE", "/dev/null"))


@cache_page(3600)
def cached_bytes(request: HttpRequest) -> HttpResponse:
    """A bare Django view returning the same bytes as our chapter page, from cache_page."""
    return HttpResponse(_page.read_bytes(), content_type="text/html; charset=utf-8")


#: Our chapter view without the page cache: render only (require_safe -> cached_page -> view).
render_only = views.chapter_detail.__wrapped__.__wrapped__


class BareSignupForm(forms.Form):
    email = forms.EmailField(max_length=254)
    consent = forms.BooleanField()


@csrf_exempt
@require_POST
def bare_signup(request: HttpRequest) -> HttpResponse:
    """Baseline for bench/signup: form validation and one insert, nothing else."""
    from contacts.models import Contact
    from mailings.models import email_hash

    form = BareSignupForm(request.POST)
    if not form.is_valid():
        return HttpResponse("invalid", status=400)
    email = form.cleaned_data["email"].lower()
    Contact.objects.create(email=email, email_hash=email_hash(email))
    return HttpResponse("Check your inbox.")


urlpatterns = [
    path("_bench/bare-signup/", bare_signup),
    path("_bench/cached/", cached_bytes),
    path("_bench/render/<slug:guide_slug>/<slug:chapter_slug>/", render_only),
    path("", include("config.urls")),
]
