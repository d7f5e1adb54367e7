"""Two-factor sign-in for staff (django-otp TOTP) on the admin, and how staff enrol."""

import io
from urllib.parse import parse_qs, urlsplit

from django.contrib import admin
from django.core.management import CommandError, call_command

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.admin_site import StaffAdminSite
from tests.unit.accounts.conftest import LOGIN, code_for, login_data, make_device, make_staff

pytestmark = pytest.mark.django_db

MSG = "Please enter the correct username, password and 6-digit code"


def test_the_default_admin_site_is_ours_and_keeps_every_registration():
    from contacts.models import Contact

    assert isinstance(admin.site, StaffAdminSite)
    assert admin.site.name == "admin"
    assert admin.site.is_registered(Contact)
    assert admin.site.is_registered(TOTPDevice)


def test_2fa_is_on_for_https_and_off_in_the_embedded_default():
    from tests.unit.core.test_deploy import PRODUCTION_ENV, run_manage

    code = "from django.conf import settings; print(settings.STAFF_REQUIRE_2FA)"
    prod = run_manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert prod.stdout.split()[-1] == "True", prod.stderr
    embedded = run_manage("shell", "-c", code, env={"SITE_URL": "http://127.0.0.1:8000"})
    assert embedded.stdout.split()[-1] == "False", embedded.stderr


def test_login_page_asks_for_the_code_only_when_required(client, settings):
    settings.STAFF_REQUIRE_2FA = False
    assert 'name="otp_token"' not in client.get(LOGIN).content.decode()
    settings.STAFF_REQUIRE_2FA = True
    html = client.get(LOGIN).content.decode()
    assert 'name="otp_token"' in html
    assert 'autocomplete="one-time-code"' in html
    assert "manage.py otp_enrol" in html


def test_password_and_code_sign_in_and_reach_the_admin(client, two_factor):
    user = make_staff()
    device = make_device(user)
    response = client.post(LOGIN, login_data(otp_token=code_for(device)))
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/contacts/contact/").status_code == 200


@pytest.mark.parametrize(
    "case", ["no code", "wrong code", "old code", "wrong password, right code", "no device"]
)
def test_every_second_factor_failure_gets_one_message_and_no_session(client, two_factor, case):
    user = make_staff()
    device = None if case == "no device" else make_device(user)
    data = {
        "no code": login_data(),
        "wrong code": login_data(otp_token=wrong_code(device) if device else ""),
        "old code": login_data(otp_token=code_for(device, offset_steps=-5) if device else ""),
        "wrong password, right code": login_data(
            password="nope", otp_token=code_for(device) if device else ""
        ),
        "no device": login_data(otp_token="123456"),
    }[case]
    response = client.post(LOGIN, data)
    assert response.status_code == 200
    assert MSG in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def wrong_code(device) -> str:
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


def test_a_code_is_accepted_once(client, two_factor):
    user = make_staff()
    device = make_device(user)
    code = code_for(device)
    assert client.post(LOGIN, login_data(otp_token=code)).status_code == 302
    other = client.__class__()
    response = other.post(LOGIN, login_data(otp_token=code))  # replayed
    assert response.status_code == 200
    assert MSG in response.content.decode()


def test_a_session_without_a_verified_device_is_sent_to_login(client, two_factor):
    """A staff session from before 2FA was switched on (or a forced login) is not enough."""
    user = make_staff()
    make_device(user)
    client.force_login(user)
    response = client.get("/admin/contacts/contact/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert "without a two-factor code" in client.get(LOGIN).content.decode()


def test_without_2fa_required_the_password_is_enough(client, settings):
    settings.STAFF_REQUIRE_2FA = False
    make_staff()
    assert client.post(LOGIN, login_data()).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_second_factor_failures_count_towards_the_cool_off(client, two_factor):
    two_factor.LOGIN_FAILURE_LIMIT = 3
    user = make_staff()
    device = make_device(user)
    for _ in range(2):
        assert client.post(LOGIN, login_data(otp_token="not-a-code")).status_code == 200
    assert client.post(LOGIN, login_data(otp_token="not-a-code")).status_code == 429
    device.throttle_reset()
    assert client.post(LOGIN, login_data(otp_token=code_for(device))).status_code == 429


# -- Enrolment -----------------------------------------------------------------------------------


def test_otp_enrol_creates_a_device_and_prints_its_otpauth_uri(client, two_factor):
    user = make_staff("ada")
    out = io.StringIO()
    call_command("otp_enrol", "ada", stdout=out)
    [device] = TOTPDevice.objects.filter(user=user)
    assert device.confirmed
    [uri] = [line for line in out.getvalue().splitlines() if line.startswith("otpauth://")]
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Chapterhouse%3Aada"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Chapterhouse"]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]
    # The printed secret is the device's: the code an app computes from it signs in.
    assert client.post(LOGIN, login_data("ada", otp_token=code_for(device))).status_code == 302


def test_otp_enrol_refuses_a_second_device_unless_replacing(two_factor):
    user = make_staff("ada")
    call_command("otp_enrol", "ada", stdout=io.StringIO())
    first = TOTPDevice.objects.get(user=user)
    with pytest.raises(CommandError, match="--replace"):
        call_command("otp_enrol", "ada", stdout=io.StringIO())
    call_command("otp_enrol", "ada", "--replace", stdout=io.StringIO())
    [second] = TOTPDevice.objects.filter(user=user)
    assert second.pk != first.pk
    assert second.key != first.key
    with pytest.raises(CommandError, match="No user"):
        call_command("otp_enrol", "nobody", stdout=io.StringIO())


def test_device_admin_lists_devices_and_never_shows_a_secret_again(client, two_factor):
    user = make_staff()
    device = make_device(user)
    assert client.post(LOGIN, login_data(otp_token=code_for(device))).status_code == 302
    listing = client.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page
    assert "otpauth://" not in page


# -- django-otp on this Django -------------------------------------------------------------------


def test_django_otp_smoke_on_this_django():
    """django-otp does not declare Django 6 support: its migrations, models and TOTP maths run."""
    import django
    from django.db import connection

    import django_otp

    assert django.VERSION[:2] >= (6, 1)
    assert "otp_totp_totpdevice" in connection.introspection.table_names()
    user = make_staff()
    device = make_device(user)
    assert device.verify_token(code_for(device))
    assert not device.verify_token(code_for(device))  # replay refused
    assert list(django_otp.devices_for_user(user)) == [device]
