"""Forms of the campaign admin's own pages (the draft itself is edited with the model form)."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from campaigns.drafts import MAX_TEST_RECIPIENTS

_SEPARATORS = re.compile(r"[,;\s]+")


class TestSendForm(forms.Form):
    """Staff addresses for a test send, separated by commas, semicolons or new lines."""

    recipients = forms.CharField(
        label="Send a test to",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "autocomplete": "email"}),
        help_text=f"Up to {MAX_TEST_RECIPIENTS} addresses of staff accounts, separated by commas "
        "or new lines. Each gets the campaign marked [TEST].",
    )

    def clean_recipients(self) -> list[str]:
        raw = self.cleaned_data["recipients"]
        addresses = list(dict.fromkeys(a for a in _SEPARATORS.split(raw) if a))
        invalid = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                invalid.append(address)
        if invalid:
            raise ValidationError(
                "Not an email address: %(list)s.", params={"list": ", ".join(invalid)}
            )
        if not addresses:
            raise ValidationError("Enter at least one address.")
        if len(addresses) > MAX_TEST_RECIPIENTS:
            raise ValidationError(
                "At most %(max)d addresses per test (you entered %(n)d).",
                params={"max": MAX_TEST_RECIPIENTS, "n": len(addresses)},
            )
        return addresses
