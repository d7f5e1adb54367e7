from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Give a staff user an authenticator app (TOTP) for the admin's two-factor sign-in and "
        "print its otpauth:// setup link. --replace removes the user's old devices (lost phone)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--name", default="Authenticator app", help="device label")
        parser.add_argument(
            "--replace", action="store_true", help="delete the user's existing TOTP devices first"
        )

    def handle(self, *args: Any, username: str, name: str, replace: bool, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if not user.is_staff:
            self.stderr.write(
                self.style.WARNING(f"{username!r} is not staff: the admin will refuse them anyway.")
            )
        with transaction.atomic():
            existing = TOTPDevice.objects.filter(user=user)
            if existing.exists() and not replace:
                raise CommandError(
                    f"{username!r} already has a TOTP device; use --replace to issue a new one "
                    "(the old codes stop working)."
                )
            removed, _ = existing.delete()
            device = TOTPDevice.objects.create(user=user, name=name[:64], confirmed=True)
        if removed:
            self.stdout.write(f"Removed {removed} old device(s).")
        self.stdout.write(
            self.style.SUCCESS(f"TOTP device created for {username!r}. Setup link (secret!):")
        )
        self.stdout.write(device.config_url)
        self.stdout.write(
            "Open it on the staff member's phone (or paste it into the authenticator app, or "
            "turn it into a QR code locally), then sign in at /admin/ with the 6-digit code."
        )
        if not settings.STAFF_REQUIRE_2FA:
            self.stdout.write(
                "Note: STAFF_REQUIRE_2FA is off here, so the admin does not ask for the code."
            )
