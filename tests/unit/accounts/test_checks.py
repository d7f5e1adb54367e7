"""Deploy checks: production runs with staff 2FA on and wired, or `check --deploy` says so."""

from accounts.checks import check_two_factor
from tests.unit.core.test_deploy import PRODUCTION_ENV, run_manage


def test_production_settings_require_2fa_and_pass_the_deploy_check():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = run_manage(
        "shell", "-c", "from django.conf import settings; print(settings.STAFF_REQUIRE_2FA)",
        env=PRODUCTION_ENV,
    )  # fmt: skip
    assert shown.stdout.split()[-1] == "True"


def test_turning_2fa_off_in_production_fails_the_deploy_check():
    env = {**PRODUCTION_ENV, "STAFF_REQUIRE_2FA": "false"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "accounts.W001" in result.stdout + result.stderr


def test_2fa_without_the_otp_middleware_is_an_error(settings):
    settings.STAFF_REQUIRE_2FA = True
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "django_otp" not in m]
    assert [m.id for m in check_two_factor()] == ["accounts.E001"]


def test_otp_middleware_before_authentication_is_an_error(settings):
    settings.STAFF_REQUIRE_2FA = True
    otp = "django_otp.middleware.OTPMiddleware"
    rest = [m for m in settings.MIDDLEWARE if m != otp]
    settings.MIDDLEWARE = [otp, *rest]
    assert [m.id for m in check_two_factor()] == ["accounts.E001"]


def test_the_embedded_default_is_quiet(settings):
    settings.STAFF_REQUIRE_2FA = False
    settings.SITE_URL = "http://127.0.0.1:8000"
    assert check_two_factor() == []
