"""The "Get the PDF" form. Validation only: ebooks.services does the work.

Abuse protection (honeypot, signed timestamp) comes from core.publicforms.PublicForm; the
view adds the same-site check and the per-IP rate limit (core.publicforms.public_post).
"""

import re
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.conf import settings

from contacts import consent
from contacts.forms import UTM_FIELDS, AddressField
from contacts.services import Source
from core.emailaddr import MSG_EMPTY, normalize_email
from core.publicforms import PublicForm
from guides.content import get_library

FORM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MSG_OUT_OF_DATE = "This form is out of date. Please reload the page and try again."
MSG_GUIDE = "Please choose the eBook you’d like."


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


class EbookRequestForm(PublicForm):
    public_form_name = "ebook"

    # normalize_email checks length and characters and says so in its own words.
    email = AddressField(
        label="Email",
        error_messages={"required": MSG_EMPTY},
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"}
        ),
    )
    #: The separate, unticked newsletter consent; its label is contacts' consent text of
    #: `consent_version`, which the ledger records (by version and hash) when it is ticked.
    newsletter = forms.BooleanField(required=False)
    consent_version = forms.CharField(required=False, widget=forms.HiddenInput)
    #: The guide: a hidden field on guide and chapter pages, a choice on the home page.
    guide = forms.CharField(error_messages={"required": MSG_GUIDE})
    # Where the box was, and (filled by script where it runs) the page and the referrer.
    chapter = forms.CharField(required=False, widget=forms.HiddenInput)
    source_form = forms.CharField(required=False, widget=forms.HiddenInput)
    page = forms.CharField(required=False, widget=forms.HiddenInput)
    referrer = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def clean_guide(self) -> str:
        value = self.cleaned_data["guide"]
        if len(value) > 100 or get_library().guide(value) is None:
            raise forms.ValidationError(MSG_OUT_OF_DATE, code="unknown_guide")
        return value

    # Attribution fields are hints, never reasons to refuse a request: bad values become blank.
    def clean_chapter(self) -> int | None:
        value = self.cleaned_data["chapter"]
        digits = value.isascii() and value.isdigit() and len(value) <= 3
        return int(value) if digits and int(value) > 0 else None

    def clean_source_form(self) -> str:
        value = self.cleaned_data["source_form"]
        return value if FORM_NAME.fullmatch(value) else ""

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        # The version is checked only when the box is ticked: without it nothing is consented.
        if data.get("newsletter") and data.get("consent_version") not in consent.CONSENT_TEXTS:
            self.add_error("newsletter", MSG_OUT_OF_DATE)
        guide = get_library().guide(str(data.get("guide") or ""))
        chapter = data.get("chapter")
        if guide is None or not isinstance(chapter, int) or chapter > len(guide.chapters):
            data["chapter"] = None
        return data

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
