"""A real Celery worker process on the Redis broker runs our tasks."""

import pytest

from tests.fixtures.services import wait_for

pytestmark = [pytest.mark.integration]


def test_task_round_trip_through_redis_and_a_worker_process(real_broker, celery_worker_process):
    from django.core.cache import cache

    from config import jobs

    assert cache.get("ping:round-trip") is None
    assert jobs.enqueue_ping("round-trip") is True
    assert wait_for(lambda: cache.get("ping:round-trip")) == "pong"


def test_registered_task_names_are_pinned():
    from tasks.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == {"core.ping", *EXPECTED_EXTRA}


#: Task names are part of the wire contract with queued messages: renaming one strands them.
EXPECTED_EXTRA = {
    "core.heartbeat",
    "core.submission_process",
    "campaigns.campaigns_resume_stuck",
    "campaigns.campaigns_start_due",
    "core.submissions_drain",
    "core.submissions_requeue_stuck",
    "mailings.mail_send",
    "mailings.mails_requeue_stuck",
    "mailings.mails_send_batch",
    "ebooks.ebook_render",
    "ebooks.ebooks_prune",
    "ebooks.ebook_deliver",
    "ebooks.ebook_requests_requeue_stuck",
    "contacts.contacts_purge_unconfirmed",
    "contacts.subscriptions_sync_suppressions",
    "campaigns.campaign_fan_out",
}


def test_enqueue_with_the_broker_down_reports_failure_instead_of_raising(real_broker):
    from config import jobs
    from tests.fixtures.services import broker_unreachable

    with broker_unreachable():
        assert jobs.enqueue_ping("nobody-listens") is False
    assert jobs.enqueue_ping("back-again") is True
