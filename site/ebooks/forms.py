"""The "Get the PDF" form. Validation only: ebooks.services does the work.

Abuse protection (honeypot, signed timestamp) comes from core.publicforms.PublicForm; the
view adds the same-site check and the per-IP rate limit (core.publicforms.public_post).
"""

from django import forms

from contacts import consent
from core.attribution import AttributedPublicForm
from guides.content import get_library

MSG_OUT_OF_DATE = "This form is out of date. Please reload the page and try again."
MSG_GUIDE = "Please choose the eBook you’d like."


class EbookRequestForm(AttributedPublicForm):
    public_form_name = "ebook"

    #: The separate, unticked newsletter consent; its label is contacts' consent text of
    #: `consent_version`, which the ledger records (by version and hash) when it is ticked.
    newsletter = forms.BooleanField(required=False)
    consent_version = forms.CharField(required=False, widget=forms.HiddenInput)
    #: The guide: a hidden field on guide and chapter pages, a choice on the home page.
    guide = forms.CharField(error_messages={"required": MSG_GUIDE})

    def clean_guide(self) -> str:
        value = self.cleaned_data["guide"]
        if len(value) > 100 or get_library().guide(value) is None:
            raise forms.ValidationError(MSG_OUT_OF_DATE, code="unknown_guide")
        return value

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
