"""The Marketer role: `manage.py sync_roles` gives it exactly what it needs, and no more."""

import io
import logging

from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

import pytest

from accounts.roles import MARKETER, ROLES, roles_sync
from contacts.models import Contact
from mailings.models import Suppression
from mailings.services import suppression_add
from tests.unit.accounts.conftest import make_staff
from tests.unit.contacts.conftest import make_subscription

pytestmark = pytest.mark.django_db


def existing(labels: tuple[str, ...]) -> set[str]:
    found = set()
    for label in labels:
        app_label, codename = label.split(".")
        if Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists():
            found.add(label)
    return found


def group_perms(name: str = MARKETER) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


@pytest.fixture
def marketer(client, settings):
    settings.STAFF_REQUIRE_2FA = False  # the role is what is tested here, not the sign-in
    roles_sync()
    user = make_staff("mia", superuser=False)
    user.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(user)
    return user


def test_sync_roles_creates_the_group_with_exactly_its_permissions(caplog):
    out, err = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.WARNING, logger="accounts.roles"):
        call_command("sync_roles", stdout=out, stderr=err)
    wanted = ROLES[MARKETER]
    assert group_perms() == existing(wanted)
    assert "Group 'Marketer': created" in out.getvalue()
    missing = set(wanted) - existing(wanted)
    for label in missing:  # e.g. export/import before the contacts app defines them
        assert label in err.getvalue()
        assert label in caplog.text


def test_sync_roles_is_idempotent_and_removes_hand_added_permissions():
    roles_sync()
    before = group_perms()
    [again] = roles_sync()
    assert (again.created, again.added, again.removed) == (False, [], [])
    assert group_perms() == before
    group = Group.objects.get(name=MARKETER)
    group.permissions.add(Permission.objects.get(codename="delete_contact"))
    [fixed] = roles_sync()
    assert fixed.removed == ["contacts.delete_contact"]
    assert group_perms() == before
    out = io.StringIO()
    call_command("sync_roles", stdout=out, stderr=io.StringIO())
    assert "up to date" in out.getvalue()


def test_the_role_holds_nothing_dangerous():
    roles_sync()
    perms = group_perms()
    assert not [p for p in perms if p.startswith("auth.")]
    assert not [p for p in perms if p.split(".")[1].startswith("delete_")]
    assert not [p for p in perms if "suppression" in p]
    assert not [p for p in perms if p.startswith("otp_totp.")]
    assert {
        "contacts.view_contact",
        "contacts.view_consentevent",
        "mailings.view_outboundmail",
    } <= (perms)


def test_a_marketer_sees_contacts_consent_and_mails(client, marketer):
    sub = make_subscription()
    for url in (
        "/admin/",
        "/admin/contacts/contact/",
        f"/admin/contacts/contact/{sub.contact_id}/change/",
        "/admin/contacts/consentevent/",
        "/admin/mailings/outboundmail/",
    ):
        assert client.get(url).status_code == 200, url


def test_a_marketer_cannot_see_staff_accounts_or_devices(client, marketer):
    for url in (
        "/admin/auth/user/",
        f"/admin/auth/user/{marketer.pk}/change/",
        "/admin/auth/group/",
        "/admin/otp_totp/totpdevice/",
    ):
        assert client.get(url).status_code == 403, url
    assert "/admin/auth/user/" not in client.get("/admin/").content.decode()


def test_a_marketer_cannot_delete_contacts(client, marketer):
    sub = make_subscription()
    url = f"/admin/contacts/contact/{sub.contact_id}/delete/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    response = client.post(
        "/admin/contacts/contact/",
        {"action": "delete_selected", "_selected_action": [sub.contact_id], "post": "yes"},
    )
    assert response.status_code in {200, 302, 403}
    assert Contact.objects.filter(pk=sub.contact_id).exists()
    assert not marketer.has_perm("contacts.delete_contact")


def test_a_marketer_cannot_change_suppressions(client, marketer):
    suppression = suppression_add(email="bounced@example.com", reason="bounced")
    assert client.get("/admin/mailings/suppression/").status_code == 403
    assert client.get(f"/admin/mailings/suppression/{suppression.pk}/change/").status_code == 403
    response = client.post(
        "/admin/mailings/suppression/", {"action": "lift", "_selected_action": [suppression.pk]}
    )
    assert response.status_code == 403
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    assert not marketer.has_perm("mailings.delete_suppression")
    assert not marketer.has_perm("mailings.change_suppression")


def test_a_marketer_cannot_lift_a_suppression_through_the_contact_actions(client, marketer):
    sub = make_subscription(status="suppressed")
    client.post(
        "/admin/contacts/contact/",
        {"action": "lift_suppression", "_selected_action": [sub.contact_id]},
    )
    sub.refresh_from_db()
    assert sub.status == "suppressed"
    assert Suppression.objects.exists()
