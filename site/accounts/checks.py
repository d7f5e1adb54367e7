"""System checks: two-factor sign-in for staff must be on, and wired, in production."""

from typing import Any

from django.conf import settings
from django.core import checks

OTP_MIDDLEWARE = "django_otp.middleware.OTPMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


@checks.register(checks.Tags.security)
def check_two_factor(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    middleware = list(settings.MIDDLEWARE)
    if settings.STAFF_REQUIRE_2FA:
        if OTP_MIDDLEWARE not in middleware or (
            AUTH_MIDDLEWARE in middleware
            and middleware.index(OTP_MIDDLEWARE) < middleware.index(AUTH_MIDDLEWARE)
        ):
            messages.append(
                checks.Error(
                    "STAFF_REQUIRE_2FA is on but django_otp's OTPMiddleware is missing or "
                    "placed before AuthenticationMiddleware: nobody could use the admin.",
                    id="accounts.E001",
                )
            )
    elif settings.SITE_URL.startswith("https://"):
        messages.append(
            checks.Warning(
                "Staff two-factor authentication is off on a public (https) site.",
                hint="Unset STAFF_REQUIRE_2FA (it defaults to on for https) or set it to true.",
                id="accounts.W001",
            )
        )
    if settings.LOGIN_COOLOFF_SECONDS <= 0 or settings.LOGIN_FAILURE_WINDOW <= 0:
        messages.append(
            checks.Error(
                "LOGIN_COOLOFF_SECONDS and LOGIN_FAILURE_WINDOW must be positive.",
                id="accounts.E002",
            )
        )
    return messages
