"""The newsletter signup form. Validation only: contacts.services does the work."""

import re

from django import forms

from contacts import consent
from core.attribution import AttributedPublicForm

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MSG_OUT_OF_DATE = "This form is out of date. Please reload the page and try again."


class SignupForm(AttributedPublicForm):
    public_form_name = "newsletter"

    consent = forms.BooleanField(
        required=True,
        error_messages={"required": "Please tick the box to confirm you want the newsletter."},
    )
    consent_version = forms.CharField(
        widget=forms.HiddenInput, error_messages={"required": MSG_OUT_OF_DATE}
    )
    # Where the box was: rendered into the (cached) page by {% signup_box %}.
    guide = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_consent_version(self) -> str:
        version = self.cleaned_data["consent_version"]
        if version not in consent.CONSENT_TEXTS:
            raise forms.ValidationError(MSG_OUT_OF_DATE)
        return version

    # Attribution fields are hints, never reasons to refuse a signup: bad values become blank.
    def clean_guide(self) -> str:
        value = self.cleaned_data["guide"]
        return value if len(value) <= 100 and _SLUG.fullmatch(value) else ""
