"""Thin tasks: registered under pinned names, scheduled by beat, calling one service each."""

from datetime import timedelta

from django.utils import timezone

import pytest

from contacts.models import Contact, Subscription
from mailings.services import suppression_add
from tests.unit.contacts.conftest import make_subscription


@pytest.mark.django_db
def test_contact_tasks_are_registered_and_scheduled():
    from tasks.celery import TASK_MODULES, app
    from tasks.schedule import BEAT_SCHEDULE

    assert "tasks.contacts" in TASK_MODULES
    app.loader.import_default_modules()
    names = {"contacts.contacts_purge_unconfirmed", "contacts.subscriptions_sync_suppressions"}
    assert names <= set(app.tasks)
    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert names <= scheduled


@pytest.mark.django_db
def test_purge_task_runs_the_retention_service(settings):
    from tasks.contacts import contacts_purge_unconfirmed

    settings.CONTACTS_UNCONFIRMED_RETENTION_DAYS = 30
    old = make_subscription("old@example.com")
    make_subscription("new@example.com")
    Subscription.objects.filter(pk=old.pk).update(
        requested_at=timezone.now() - timedelta(days=30, minutes=1)
    )
    assert contacts_purge_unconfirmed.apply().get() == 1
    assert list(Contact.objects.values_list("email", flat=True)) == ["new@example.com"]


@pytest.mark.django_db
def test_sync_task_runs_the_sync_service():
    from tasks.contacts import subscriptions_sync_suppressions

    make_subscription("b@example.com", "confirmed")
    suppression_add(email="b@example.com", reason="bounced")
    assert subscriptions_sync_suppressions.apply().get() == 1
