"""Builders for campaign tests: campaigns, subscribers in a given state, staff users."""

from typing import Any

from django.contrib.auth.models import Group

import pytest

from accounts.roles import MARKETER, roles_sync
from campaigns import services
from campaigns.models import Campaign
from contacts.models import Subscription
from contacts.services import UNSUBSCRIBE_PURPOSE, unsubscribe_url
from core.signing import read_token
from tests.unit.accounts.conftest import make_staff
from tests.unit.contacts.conftest import make_subscription

BODY = "Hello **readers**.\n\nRead [the new chapter](/modern-product-management/5/).\n"


def make_campaign(**fields: Any) -> Campaign:
    """A saved draft, through the service the admin uses."""
    fields = {"subject": "Issue #1: discovery", "preheader": "Five habits", "body": BODY, **fields}
    return services.campaign_draft_save(campaign=Campaign(**fields), actor=None)


def subscribers(*emails: str, status: str = "confirmed") -> list[Subscription]:
    return [make_subscription(email, status) for email in emails]


def unsubscribe_target(header: str) -> int:
    """The subscription id a List-Unsubscribe header's one-click link unsubscribes."""
    url = header.removeprefix("<").removesuffix(">")
    prefix = unsubscribe_url(subscription_id=0).rsplit("/", 2)[0] + "/"
    assert url.startswith(prefix), url
    token = url.removeprefix(prefix).strip("/")
    return int(read_token(UNSUBSCRIBE_PURPOSE, token, max_age=None))


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the eager fan-out and mail sends) of everything in the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def marketer(client, settings):
    """A signed-in member of the Marketer group exactly as `sync_roles` sets it up."""
    settings.STAFF_REQUIRE_2FA = False
    roles_sync()
    user = make_staff("mia", superuser=False)
    user.email = "mia@staff.example.com"
    user.save(update_fields=["email"])
    user.groups.add(Group.objects.get(name=MARKETER))
    client.force_login(user)
    return user
