"""The newsletter signup form. Validation only: contacts.services does the work."""

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.conf import settings

from contacts import consent
from contacts.services import Source
from core.emailaddr import MSG_EMPTY, normalize_email
from core.publicforms import PublicForm

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FORM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MSG_OUT_OF_DATE = "This form is out of date. Please reload the page and try again."
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _same_site_url(url: str) -> tuple[str, str] | None:
    """(path, query) of `url` when it is on SITE_URL's origin, else None."""
    try:
        parts, ours = urlsplit(url), urlsplit(settings.SITE_URL)
        same = (parts.scheme, parts.netloc.lower()) == (ours.scheme, ours.netloc.lower())
    except ValueError:
        return None
    return (parts.path, parts.query) if same else None


def _strip_query(url: str) -> str:
    """An external referrer without its query string or fragment (they may hold PII)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:500]


class AddressField(forms.CharField):
    """A text field whose only validation is normalize_email (in the form's clean_email)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = []  # drop CharField's null-character check: ours explains itself


class SignupForm(PublicForm):
    public_form_name = "newsletter"

    # No max_length or null-character validator here: normalize_email checks both and says
    # so in its own words. Hidden fields are hints with no length limit either: their clean
    # methods blank or truncate bad values instead of refusing the signup.
    email = AddressField(
        label="Email",
        error_messages={"required": MSG_EMPTY},
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
        ),
    )
    consent = forms.BooleanField(
        required=True,
        error_messages={"required": "Please tick the box to confirm you want the newsletter."},
    )
    consent_version = forms.CharField(
        widget=forms.HiddenInput, error_messages={"required": MSG_OUT_OF_DATE}
    )
    # Where the box was: rendered into the (cached) page by {% signup_box %}.
    guide = forms.CharField(required=False, widget=forms.HiddenInput)
    chapter = forms.CharField(required=False, widget=forms.HiddenInput)
    source_form = forms.CharField(required=False, widget=forms.HiddenInput)
    # Filled in by signup.js when it runs (the page URL with its UTM query, document.referrer);
    # without script the POST's Referer gives the page.
    page = forms.CharField(required=False, widget=forms.HiddenInput)
    referrer = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def clean_consent_version(self) -> str:
        version = self.cleaned_data["consent_version"]
        if version not in consent.CONSENT_TEXTS:
            raise forms.ValidationError(MSG_OUT_OF_DATE)
        return version

    # Attribution fields are hints, never reasons to refuse a signup: bad values become blank.
    def clean_guide(self) -> str:
        value = self.cleaned_data["guide"]
        return value if len(value) <= 100 and _SLUG.fullmatch(value) else ""

    def clean_chapter(self) -> int | None:
        value = self.cleaned_data["chapter"]
        digits = value.isascii() and value.isdigit() and len(value) <= 3
        return int(value) if digits and int(value) > 0 else None

    def clean_source_form(self) -> str:
        value = self.cleaned_data["source_form"]
        return value if _FORM_NAME.fullmatch(value) else ""

    def source(self, *, referer_header: str) -> Source:
        """Attribution from the cleaned form, falling back to the POST's same-site Referer."""
        data = self.cleaned_data
        page = _same_site_url(data["page"]) or _same_site_url(referer_header) or ("", "")
        try:
            query = parse_qs(page[1], max_num_fields=50)
        except ValueError:  # an absurd query string: no UTM then
            query = {}
        utm = {name: (query.get(name) or [""])[0][:100] for name in UTM_FIELDS}
        return Source(
            guide_slug=data["guide"],
            chapter_number=data["chapter"],
            form_name=data["source_form"],
            page_path=page[0][:500],
            referrer=_strip_query(data["referrer"]),
            **utm,
        )
