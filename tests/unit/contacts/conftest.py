"""Builders for contacts tests (signup data, subscriptions in a given state)."""

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

import pytest

from contacts import consent, services
from contacts.models import Subscription
from contacts.services import Actor, Source
from core.publicforms import form_stamp_make

ORIGIN = {"Origin": "http://testserver"}
ACTOR = Actor(ip="203.0.113.7", user_agent="pytest", page_path="/g/c/", form_name="inline")
SOURCE = Source(guide_slug="modern-product-management", chapter_number=5, form_name="inline")


def stamp(age: float = 10.0, form: str = "newsletter") -> str:
    """A signed form timestamp issued `age` seconds ago."""
    return form_stamp_make(form, now=time.time() - age)


def signup_data(email: str = "ann@example.com", **overrides: Any) -> dict[str, str]:
    data = {
        "email": email,
        "consent": "on",
        "consent_version": consent.CURRENT_VERSION,
        "guide": "modern-product-management",
        "chapter": "5",
        "source_form": "inline",
        "stamp": stamp(),
        "website": "",
        "page": "",
        "referrer": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def subscribe(email: str = "ann@example.com", **kwargs: Any) -> services.SignupOutcome:
    kwargs.setdefault("consent_version", consent.CURRENT_VERSION)
    kwargs.setdefault("source", SOURCE)
    kwargs.setdefault("actor", ACTOR)
    return services.contact_subscribe(email=email, **kwargs)


def make_subscription(email: str = "ann@example.com", status: str = "pending") -> Subscription:
    """A subscription in `status`, reached through the services where a service exists."""
    subscribe(email)
    sub = Subscription.objects.select_related("contact").get(contact__email=email)
    if status in {"confirmed", "unsubscribed"}:
        services.subscription_confirm(
            subscription_id=sub.pk, generation=sub.token_generation, actor=ACTOR
        )
    if status == "unsubscribed":
        services.subscription_unsubscribe(subscription_id=sub.pk, actor=ACTOR)
    if status == "suppressed":
        services.contact_suppress(contact_id=sub.contact_id, actor=ACTOR)
    if status in {"bounced", "complained"}:
        Subscription.objects.filter(pk=sub.pk).update(status=status)
    sub.refresh_from_db()
    assert sub.status == status
    return sub


def age_cooldown(sub: Subscription) -> None:
    """Pretend the last confirmation mail went out long ago."""
    Subscription.objects.filter(pk=sub.pk).update(
        last_confirmation_sent_at=timezone.now() - timedelta(days=1)
    )


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the eager mail send) of everything inside the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
