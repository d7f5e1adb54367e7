"""Concurrent identical signups on PostgreSQL: one contact, at most one confirmation mail."""

import threading
from collections.abc import Callable

from django.db import connection
from django.test import Client

import pytest

from contacts.models import ConsentEvent, Contact, Subscription
from mailings.models import OutboundMail
from tests.unit.contacts.conftest import ORIGIN, signup_data, subscribe

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THREADS = 20


def race(action: Callable[[int], object]) -> list[object]:
    """Run action(i) in THREADS threads released at once; return results or exceptions."""
    barrier = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = action(i)
        except Exception as exc:  # reported by the test, not swallowed
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_twenty_concurrent_identical_signups_make_one_contact_and_one_mail():
    results = race(lambda i: subscribe("Race@example.com" if i % 2 else "race@example.com"))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert Contact.objects.count() == 1
    assert Subscription.objects.count() == 1
    assert OutboundMail.objects.count() == 1
    assert [str(result) for result in results].count("confirmation_sent") == 1
    assert ConsentEvent.objects.filter(event="signup").count() == THREADS


def test_twenty_concurrent_identical_signup_posts_get_the_same_answer(settings, monkeypatch):
    """The POSTs race; their forms are then acted on as a worker would (eager tasks are not
    run in the request threads: Celery's eager mode keeps process-global state)."""
    from config import jobs
    from core import intake

    monkeypatch.setattr(jobs, "enqueue_submissions_drain", lambda: True)
    settings.PUBLIC_FORM_RATE_LIMIT = 100
    data = signup_data("post-race@example.com")

    def post(i: int) -> tuple[int, bytes]:
        response = Client().post(
            "/s/subscribe/", data, headers=ORIGIN, REMOTE_ADDR=f"192.0.2.{i + 1}"
        )
        return response.status_code, response.content

    results = race(post)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert len(set(results)) == 1
    assert results[0][0] == 200
    assert intake.submissions_drain() == THREADS
    assert Contact.objects.count() == 1
    assert OutboundMail.objects.filter(to_email="post-race@example.com").count() == 1


def test_one_accepted_form_processed_by_twenty_workers_at_once_acts_once():
    """Duplicate deliveries of one submission's task racing: SKIP LOCKED lets exactly one act."""
    from config import jobs
    from core import intake
    from core.models import FormSubmission

    # Accept only (no processing on commit): the race below is the processing.
    publish, jobs.enqueue_submissions_drain = jobs.enqueue_submissions_drain, lambda: True
    try:
        response = Client().post("/s/subscribe/", signup_data("dup@example.com"), headers=ORIGIN)
    finally:
        jobs.enqueue_submissions_drain = publish
    assert response.status_code == 200
    submission_id = FormSubmission.objects.get().pk

    results = race(lambda i: intake.submission_process(submission_id=submission_id))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(results) == ["done"] + ["missing"] * (THREADS - 1)
    assert not FormSubmission.objects.exists()
    assert ConsentEvent.objects.count() == 1
    assert OutboundMail.objects.filter(to_email="dup@example.com").count() == 1
