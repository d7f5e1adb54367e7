"""The admin site: login throttling always, and a verified TOTP device when STAFF_REQUIRE_2FA.

It is the default `admin.site` (accounts.apps.StaffAdminConfig), so every app's
`@admin.register` lands here and the URL names stay `admin:*`. With STAFF_REQUIRE_2FA a
staff session that signed in without a code (or before 2FA was switched on) is treated as
not staff, like django_otp.admin.OTPAdminSite does, and is sent back to the login page.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def two_factor_required() -> bool:
    return bool(getattr(settings, "STAFF_REQUIRE_2FA", False))


class StaffAdminSite(admin.AdminSite):
    login_template = "accounts/login.html"
    site_header = "Chapterhouse"
    site_title = "Chapterhouse admin"
    index_title = "Guides, subscribers and growth"

    @property
    def login_form(self) -> type:  # type: ignore[override]
        from accounts.forms import StaffLoginForm, StaffOTPLoginForm

        return StaffOTPLoginForm if two_factor_required() else StaffLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        if not two_factor_required():
            return True
        is_verified = getattr(request.user, "is_verified", None)
        return bool(is_verified and is_verified())

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {"otp_required": two_factor_required(), **(extra_context or {})}
        response: HttpResponse = super().login(request, extra_context=context)
        form = (
            getattr(response, "context_data", {}).get("form")
            if isinstance(response, TemplateResponse)
            else None
        )
        seconds = getattr(form, "cooloff_seconds", None)
        if seconds:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response
