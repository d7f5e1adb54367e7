"""Attribution of a public form submission: where the form was and where the visitor came from.

Shared by the newsletter signup (contacts) and "Get the PDF" (ebooks). Attribution fields are
hints, never reasons to refuse a submission: bad values become blank.
"""

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.conf import settings

from core.emailaddr import MSG_EMPTY, normalize_email
from core.publicforms import PublicForm, form_stamp_make

FORM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class Source:
    """Attribution of a signup or request, as stored on its row (see model_fields)."""

    guide_slug: str = ""
    chapter_number: int | None = None
    form_name: str = ""
    page_path: str = ""
    referrer: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""

    def model_fields(self, *, guide: bool = True) -> dict[str, Any]:
        """The attribution columns (truncated to their sizes), with or without guide_slug."""
        limits = {"guide_slug": 100, "form_name": 40, "page_path": 500, "referrer": 500}
        fields = {
            name: value[: limits.get(name, 100)] if isinstance(value, str) else value
            for name, value in asdict(self).items()
        }
        if not guide:
            fields.pop("guide_slug")
        return fields


def same_site_url(url: str) -> tuple[str, str] | None:
    """(path, query) of `url` when it is on SITE_URL's origin, else None."""
    try:
        parts, ours = urlsplit(url), urlsplit(settings.SITE_URL)
        same = (parts.scheme, parts.netloc.lower()) == (ours.scheme, ours.netloc.lower())
    except ValueError:
        return None
    return (parts.path, parts.query) if same else None


def strip_query(url: str) -> str:
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


class AttributedPublicForm(PublicForm):
    """A public form with an email address and the hidden attribution fields.

    Subclasses declare `guide` (lenient or strict, as they need).
    """

    # normalize_email checks length and characters and says so in its own words.
    email = AddressField(
        label="Email",
        error_messages={"required": MSG_EMPTY},
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
        ),
    )
    # Where the box was: rendered into the (cached) page by its template tag.
    chapter = forms.CharField(required=False, widget=forms.HiddenInput)
    source_form = forms.CharField(required=False, widget=forms.HiddenInput)
    # Filled in by script where it runs (the page URL with its UTM query, document.referrer);
    # without script the POST's Referer gives the page.
    page = forms.CharField(required=False, widget=forms.HiddenInput)
    referrer = forms.CharField(required=False, widget=forms.HiddenInput)

    @classmethod
    def initial_for(
        cls, *, guide_slug: str, chapter_number: int | None, form_name: str, consent_version: str
    ) -> dict[str, object]:
        """Initial values of a box rendered into a (cacheable) page: nothing per visitor."""
        return {
            "consent_version": consent_version,
            "guide": guide_slug,
            "chapter": chapter_number or "",
            "source_form": form_name,
            "stamp": form_stamp_make(cls.public_form_name),
        }

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def clean_chapter(self) -> int | None:
        value = self.cleaned_data["chapter"]
        digits = value.isascii() and value.isdigit() and len(value) <= 3
        return int(value) if digits and int(value) > 0 else None

    def clean_source_form(self) -> str:
        value = self.cleaned_data["source_form"]
        return value if FORM_NAME.fullmatch(value) else ""

    def source(self, *, referer_header: str) -> Source:
        """Attribution from the cleaned form, falling back to the POST's same-site Referer."""
        data = self.cleaned_data
        page = same_site_url(data["page"]) or same_site_url(referer_header) or ("", "")
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
            referrer=strip_query(data["referrer"]),
            **utm,
        )
