"""Builders for staff-account tests: users, TOTP devices and their current codes."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"


def make_staff(username: str = "staff", *, superuser: bool = True) -> AbstractUser:
    user_model = get_user_model()
    if superuser:
        return user_model.objects.create_superuser(username=username, password=PASSWORD)
    return user_model.objects.create_user(username=username, password=PASSWORD, is_staff=True)


def make_device(user: AbstractUser) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def code_for(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """The code the authenticator app shows now (or `offset_steps` steps away)."""
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset_steps)
    return f"{value:0{device.digits}d}"


def login_data(username: str = "staff", password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"username": username, "password": password, "next": "/admin/", **extra}


@pytest.fixture
def two_factor(settings):
    settings.STAFF_REQUIRE_2FA = True
    return settings
