"""Accepted public forms (core.intake): one INSERT in the request, acted on once by a worker."""

from datetime import timedelta

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import pytest

from config import jobs
from contacts import gdpr
from contacts.models import ConsentEvent, Contact, Subscription
from core import intake
from core.models import FormSubmission
from mailings.models import OutboundMail
from tests.unit.contacts.conftest import ORIGIN, signup_data

pytestmark = pytest.mark.django_db

SUBSCRIBE = reverse("contacts:subscribe")


@pytest.fixture
def published(monkeypatch) -> list[int | str]:
    """What was published to the broker (recorded, not run): submission ids, or "drain"."""
    sent: list[int | str] = []
    monkeypatch.setattr(jobs, "enqueue_submission_process", lambda pk: sent.append(pk) or True)
    monkeypatch.setattr(jobs, "enqueue_submissions_drain", lambda: sent.append("drain") or True)
    return sent


def test_the_signup_request_is_one_insert_and_the_worker_makes_the_rows(client, published):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN, REMOTE_ADDR="192.0.2.4"
        )
    assert response.status_code == 200
    [query] = [q["sql"] for q in queries.captured_queries]
    assert query.replace('"', "").startswith("INSERT INTO core_formsubmission")
    [submission] = FormSubmission.objects.all()
    assert published == []  # only after commit (this test's transaction never commits)
    assert not Contact.objects.exists()

    assert intake.submission_process(submission_id=submission.pk) == "done"
    assert not FormSubmission.objects.exists()
    sub = Subscription.objects.select_related("contact").get()
    assert (sub.contact.email, sub.status) == ("reader@example.org", "pending")
    assert sub.chapter_number == 5
    event = ConsentEvent.objects.get()
    assert (event.ip, event.occurred_at) == ("192.0.2.4", submission.received_at)
    assert OutboundMail.objects.get().template == "confirm_subscription"


def test_a_duplicate_task_does_nothing(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    assert not FormSubmission.objects.exists()  # processed after commit (eager tasks)
    assert len(mail.outbox) == 1
    from tasks.core import submission_process

    assert submission_process(10**9) == "missing"  # a redelivery after the row went
    assert OutboundMail.objects.count() == 1


def test_a_failing_handler_rolls_back_and_the_sweeper_retries_a_bounded_number_of_times(
    client, published, settings, monkeypatch
):
    settings.SUBMISSION_REQUEUE_AFTER = 60
    settings.SUBMISSION_MAX_ATTEMPTS = 2
    client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    submission = FormSubmission.objects.get()
    from contacts import services

    def broken(**kwargs):
        Contact.objects.create(email="half@example.org", email_hash="x" * 64)
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "contact_subscribe", broken)
    for attempt in (1, 2):
        with pytest.raises(RuntimeError):
            intake.submission_process(submission_id=submission.pk)
        submission.refresh_from_db()
        assert (submission.attempts, submission.last_error) == (attempt, "RuntimeError")
    assert not Contact.objects.exists()  # the half-done work was rolled back

    assert intake.submissions_requeue_stuck() == 0  # too many failures: an operator decides
    assert intake.submissions_retry(ids=[submission.pk]) == 1
    FormSubmission.objects.update(enqueued_at=timezone.now() - timedelta(seconds=61))
    assert intake.submissions_requeue_stuck() == 1
    assert intake.submissions_requeue_stuck() == 0  # the clock restarted
    monkeypatch.undo()
    assert intake.submission_process(submission_id=submission.pk) == "done"
    assert Subscription.objects.get().contact.email == "reader@example.org"


def test_a_lost_publish_is_swept_once_it_is_stale(client, published, settings):
    settings.SUBMISSION_REQUEUE_AFTER = 60
    client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    assert intake.submissions_requeue_stuck() == 0  # recent: its task may be on its way
    FormSubmission.objects.update(enqueued_at=timezone.now() - timedelta(seconds=61))
    assert intake.submissions_requeue_stuck() == 1
    assert published == [FormSubmission.objects.get().pk]


def test_a_burst_of_forms_publishes_one_drain_that_acts_on_all_of_them(
    client, published, django_capture_on_commit_callbacks
):
    for i in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(SUBSCRIBE, signup_data(f"reader{i}@example.org"), headers=ORIGIN)
    assert published == ["drain"]  # the flag says one is queued: no publish per form
    assert intake.submissions_drain() == 3
    assert Contact.objects.count() == 3
    assert OutboundMail.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=True):  # the drain dropped the flag first
        client.post(SUBSCRIBE, signup_data("late@example.org"), headers=ORIGIN)
    assert published == ["drain", "drain"]


def test_the_drain_leaves_failed_forms_to_the_sweeper(client, published, monkeypatch):
    client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    client.post(SUBSCRIBE, signup_data("other@example.org"), headers=ORIGIN)
    FormSubmission.objects.filter(email="reader@example.org").update(attempts=1)
    assert intake.submissions_drain() == 1
    assert list(FormSubmission.objects.values_list("email", flat=True)) == ["reader@example.org"]


def test_erasing_a_contact_deletes_its_waiting_forms(client, published, admin_user):
    from tests.unit.contacts.conftest import subscribe

    subscribe("ann@example.com")
    client.post(SUBSCRIBE, signup_data("ANN@example.com"), headers=ORIGIN)
    client.post(SUBSCRIBE, signup_data("bob@example.com"), headers=ORIGIN)
    detail = gdpr.contact_erase(
        contact_id=Contact.objects.get(email="ann@example.com").pk, actor=admin_user
    )
    assert detail["form_submissions_deleted"] == 1
    assert list(FormSubmission.objects.values_list("email", flat=True)) == ["bob@example.com"]


def test_a_kind_without_a_handler_is_refused_at_accept():
    with pytest.raises(intake.UnknownSubmissionKindError):
        intake.submission_accept(kind="nope", email="a@example.org", payload={})
    assert not FormSubmission.objects.exists()


def test_the_admin_lists_failed_forms_and_sends_them_again(
    admin_client, client, published, django_capture_on_commit_callbacks
):
    client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    submission = FormSubmission.objects.get()
    FormSubmission.objects.update(attempts=8, last_error="OperationalError")
    url = reverse("admin:core_formsubmission_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "OperationalError" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "retry_now", "_selected_action": [submission.pk]}, follow=True
        )
    assert "1 form(s) sent to a worker again." in response.content.decode()
    submission.refresh_from_db()
    assert (submission.attempts, submission.last_error) == (0, "")
    assert published == [submission.pk]


def test_a_drain_stops_when_another_worker_holds_the_rows(client, published, monkeypatch):
    client.post(SUBSCRIBE, signup_data("reader@example.org"), headers=ORIGIN)
    calls = []
    monkeypatch.setattr(
        intake, "submission_process", lambda submission_id: calls.append(submission_id) or "missing"
    )
    assert intake.submissions_drain() == 0  # returns instead of polling the locked rows
    assert len(calls) == 1
    assert FormSubmission.objects.count() == 1
