"""Staff sign-in forms for the admin: throttled, and with a TOTP code when 2FA is required."""

import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.base_user import AbstractBaseUser

from django_otp.forms import OTPAuthenticationFormMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import throttle
from core.publicforms import client_ip

MSG_INVALID_2FA = (
    "Please enter the correct username, password and 6-digit code for a staff account. "
    "All three are case-sensitive."
)


def cooloff_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (
        "Too many failed sign-in attempts for this account or from your network. For your "
        f"security, sign-in is paused: please try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}. Nothing is locked for good."
    )


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's login form with a per-username and per-IP cool-off after failures."""

    #: Set on a refused attempt: seconds until the next one may succeed (for Retry-After).
    cooloff_seconds: int | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))[:300]
        ip = client_ip(self.request) if self.request is not None else None
        remaining = throttle.login_cooloff_remaining(username=username, ip=ip)
        if remaining is not None:
            # Refused before the password is checked: no oracle while cooling off.
            self.cooloff_seconds = remaining
            raise forms.ValidationError(cooloff_message(remaining), code="throttled")
        try:
            cleaned = self.check_credentials()
        except forms.ValidationError:
            started = throttle.login_failure_record(username=username, ip=ip)
            if started is None:
                raise
            self.cooloff_seconds = started
            raise forms.ValidationError(cooloff_message(started), code="throttled") from None
        throttle.login_success_record(username=username)
        return cleaned

    def check_credentials(self) -> dict[str, Any]:
        return super().clean()


class StaffOTPLoginForm(OTPAuthenticationFormMixin, StaffLoginForm):
    """Username, password and the code of the staff member's TOTP device, in one step.

    Every failure (password, not staff, missing or wrong code, no device) gets the same
    message, so the form is no oracle for the password alone. django-otp's own per-device
    back-off applies on top of the login throttle.
    """

    otp_token = forms.CharField(
        label="6-digit code",
        required=False,
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off"}
        ),
    )

    otp_error_messages = dict.fromkeys(
        OTPAuthenticationFormMixin.otp_error_messages, MSG_INVALID_2FA
    )

    def check_credentials(self) -> dict[str, Any]:
        try:
            cleaned = super().check_credentials()
        except forms.ValidationError as exc:
            raise forms.ValidationError(MSG_INVALID_2FA, code="invalid_login") from exc
        self.clean_otp(self.get_user())
        return cleaned

    def _chosen_device(self, user: AbstractBaseUser) -> TOTPDevice | None:
        """The user's first confirmed TOTP device, locked for the verification."""
        return (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("pk")
            .first()
        )

    def _update_form(self, user: AbstractBaseUser) -> None:
        """No device picker and no password echo: the page asks for all three again."""
