"""Failure behaviour against real PostgreSQL, Redis and Celery worker processes.

Each test breaks one thing the way production breaks (Redis refusing or hanging, the ESP
answering 5xx, dropping the connection or refusing with a 4xx, a transaction rolling back, the
database gone) and checks the guarantee of docs/RELIABILITY.md that goes with it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import transaction
from django.test import Client

import pytest

from contacts.models import ConsentEvent, Contact, Subscription
from core import intake
from core.models import FormSubmission
from mailings import services as mailing_services
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create
from tests.fixtures.faults import broker_at, cache_settings_for, start_smtp_worker, wait_for
from tests.fixtures.mailings import make_mail
from tests.unit.contacts.conftest import signup_data

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = "modern-product-management"
CHAPTER = f"/{GUIDE}/pm-vs-tpm/"


def post_signup(email: str, **extra):
    """The signup box's POST, from our own origin, as a browser sends it."""
    from django.conf import settings

    client = Client(raise_request_exception=False)
    return client.post(
        "/s/subscribe/", signup_data(email), headers={"Origin": settings.SITE_URL}, **extra
    )


def status_of(mail: OutboundMail) -> str:
    mail.refresh_from_db()
    return mail.status


# -- Redis down during a signup -----------------------------------------------------------------


@pytest.mark.parametrize("redis", ["refusing", "hung"])
def test_signup_with_redis_down_answers_normally_and_the_sweeper_sends_one_mail(
    redis, real_broker, smtp_server, smtp_mail_worker, settings, dead_redis_url, silent_redis_url
):
    """Broker and cache both unreachable during the POST: the same answer, the accepted form
    committed; once Redis is back, the sweeper's publish makes the rows and exactly one mail."""
    mailbox, _ = smtp_server
    url = dead_redis_url if redis == "refusing" else silent_redis_url
    settings.CACHES = cache_settings_for(url)
    with broker_at(url):
        response = post_signup("outage@example.com")
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    # How long the visitor waits with the broker down is measured by bench/mail (bounded by
    # the broker timeouts in settings), not asserted here: tests never time the machine.
    # Committed before the answer: the accepted form; its task was lost with Redis.
    [waiting] = FormSubmission.objects.all()
    assert waiting.email == "outage@example.com"
    time.sleep(1)
    assert not Contact.objects.exists()
    assert mailbox.messages == []

    # Redis is back (the real one); beat's sweeper runs, twice (a duplicate publish).
    settings.SUBMISSION_REQUEUE_AFTER = 0
    assert intake.submissions_requeue_stuck() == 1
    assert intake.submissions_requeue_stuck() == 1
    assert wait_for(lambda: not FormSubmission.objects.exists())
    mail = OutboundMail.objects.get(to_email="outage@example.com")
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT)
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    [consent] = ConsentEvent.objects.filter(event="signup")
    assert consent.occurred_at == waiting.received_at  # when the visitor consented
    time.sleep(1.5)
    [message] = mailbox.messages
    assert message["To"] == "outage@example.com"
    assert "/s/confirm/" in message.get_body(("plain",)).get_content()
    assert intake.submissions_requeue_stuck() == 0


def test_pdf_request_with_redis_down_answers_normally_and_the_sweeper_sends_one_mail(
    real_broker, smtp_server, worker_env, settings, dead_redis_url, tmp_path, monkeypatch
):
    """ "Get the PDF" with a warm eBook cache while Redis is down: the normal answer, the
    request and its delivery mail committed; after Redis returns, one mail with the PDF."""
    from ebooks import render
    from ebooks import services as ebook_services
    from ebooks.models import EbookRequest
    from tests.unit.ebooks.conftest import CountingRender, pdf_data

    # One media folder for this process and the worker (the PDF is attached from storage).
    var = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(var / "media")},
        },
    }
    monkeypatch.setattr(render, "ebook_render", CountingRender())
    ebook_services.ebook_get_or_render(guide_slug="product-discovery")  # warm: a stored PDF
    mailbox, port = smtp_server
    worker = start_smtp_worker(worker_env, port, tmp_path / "worker.log", VAR_DIR=str(var))
    try:
        settings.CACHES = cache_settings_for(dead_redis_url)
        with broker_at(dead_redis_url):
            response = Client(raise_request_exception=False).post(
                "/s/ebook/", pdf_data("reader@example.org"), headers={"Origin": settings.SITE_URL}
            )
        assert response.status_code == 200
        assert "Check your inbox" in response.content.decode()
        # How long the visitor waits with the broker down is measured by bench/mail (bounded by
        # the broker timeouts in settings), not asserted here: tests never time the machine.
        assert FormSubmission.objects.get().email == "reader@example.org"  # committed
        time.sleep(1)
        assert not EbookRequest.objects.exists()
        assert mailbox.messages == []

        settings.SUBMISSION_REQUEUE_AFTER = 0
        assert intake.submissions_requeue_stuck() == 1
        assert wait_for(lambda: EbookRequest.objects.filter(mail__isnull=False).exists())
        mail = EbookRequest.objects.get().mail
        assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT)
        time.sleep(1)
        [message] = mailbox.messages
        assert message["To"] == "reader@example.org"
        attachments = [part.get_content_type() for part in message.iter_attachments()]
        assert attachments == ["application/pdf"]
    finally:
        worker.stop()


@pytest.mark.django_db
def test_pages_the_join_count_and_rate_limits_degrade_gracefully_with_the_cache_down(
    settings, cache_down, caplog
):
    """No 500 anywhere while Redis (the cache) is down: pages render from the database,
    the "Join N" label is counted once per process, and the rate limit fails open."""
    import logging

    from contacts import selectors
    from tests.unit.contacts.conftest import make_subscription

    make_subscription("reader@example.com", "confirmed")
    selectors._fallback = None  # no process copy of the label from an earlier test
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.WARNING):
        for path in ("/", f"/{GUIDE}/", CHAPTER, CHAPTER, "/s/subscribe/", "/healthz"):
            response = client.get(path)
            assert response.status_code == 200, path
        chapter = client.get(CHAPTER).content.decode()
        assert "Join 1 " in chapter  # the live count, without the cache
        assert client.get(f"/{GUIDE}/no-such-chapter/").status_code == 404
        assert client.get("/admin/login/").status_code == 200

        settings.PUBLIC_FORM_RATE_LIMIT = 1
        answers = [post_signup(f"burst{i}@example.com").status_code for i in range(3)]
    assert answers == [200, 200, 200]  # fail open: a cache outage never blocks signups
    assert FormSubmission.objects.filter(email__startswith="burst").count() == 3
    assert "cache unavailable" in caplog.text


@pytest.mark.django_db
def test_admin_sign_in_works_with_the_cache_down(settings, cache_down, caplog):
    """The login throttle fails open (logged) instead of locking staff out."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="ops", password="a long passphrase")
    client = Client(raise_request_exception=False)
    response = client.post(
        "/admin/login/", {"username": "ops", "password": "a long passphrase", "next": "/admin/"}
    )
    assert response.status_code == 302
    assert "login throttle: cache unavailable" in caplog.text


# -- Rollback -----------------------------------------------------------------------------------


def test_a_rolled_back_transaction_publishes_nothing_and_sends_nothing(
    real_broker, smtp_server, smtp_mail_worker
):
    mailbox, _ = smtp_server

    class AbortError(Exception):
        pass

    def create_then_fail() -> None:
        with transaction.atomic():
            outbound_mail_create(
                to="never@example.com", template="test_notice", context={"name": "x"}
            )
            raise AbortError

    with pytest.raises(AbortError):
        create_then_fail()
    kept = make_mail(to="kept@example.com")  # the worker is alive and sends what commits
    assert wait_for(lambda: status_of(kept) == OutboundMail.Status.SENT)
    time.sleep(1)
    assert not OutboundMail.objects.filter(to_email="never@example.com").exists()
    assert [m["To"] for m in mailbox.messages] == ["kept@example.com"]


# -- ESP errors -----------------------------------------------------------------------------------


def test_esp_5xx_and_dropped_connections_are_retried_with_backoff_then_sent_once(
    real_broker, fake_esp, esp_mail_worker
):
    fake_esp.script = [503, "drop", 503]
    mail = make_mail(to="patient@example.com")
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT, timeout=90)
    mail.refresh_from_db()
    assert mail.attempts == 4
    assert mail.last_error == ""
    assert mail.esp_message_id
    assert len(fake_esp.calls) == 4
    time.sleep(2)
    assert len(fake_esp.calls) == 4  # nothing after the success


def test_a_permanent_4xx_fails_the_mail_once_with_the_error_recorded(
    real_broker, fake_esp, esp_mail_worker
):
    fake_esp.script = [422]
    mail = make_mail(to="refused@example.com")
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.FAILED)
    mail.refresh_from_db()
    assert mail.attempts == 1
    assert "422" in mail.last_error or "Invalid email request" in mail.last_error
    time.sleep(6)  # longer than the first retry's backoff: no retry comes
    assert len(fake_esp.calls) == 1
    assert status_of(mail) == OutboundMail.Status.FAILED
    # The sweeper leaves failed mails alone (only the admin's "send again" retries them).
    from django.conf import settings

    settings.MAIL_REQUEUE_AFTER = 0
    assert mailing_services.mails_requeue_stuck() == 0


def test_transient_errors_stop_at_the_attempt_limit(real_broker, fake_esp, worker_env, tmp_path):
    """An ESP that never recovers: the mail ends FAILED after MAIL_MAX_ATTEMPTS, not forever."""
    from tests.fixtures.faults import _start_worker

    env = dict(worker_env)
    env.update(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="fault-test-token",
        ANYMAIL_POSTMARK_API_URL=fake_esp.url,
        MAIL_MAX_ATTEMPTS="2",
    )
    worker = _start_worker(env, tmp_path / "worker.log")
    try:
        fake_esp.script = [503] * 10
        mail = make_mail(to="down@example.com")
        assert wait_for(lambda: status_of(mail) == OutboundMail.Status.FAILED, timeout=60)
        mail.refresh_from_db()
        assert mail.attempts == 2
        assert "503" in mail.last_error or "Unavailable" in mail.last_error
        time.sleep(6)
        assert len(fake_esp.calls) == 2
    finally:
        worker.stop()


# -- Database down ---------------------------------------------------------------------------------


def test_readyz_is_503_with_the_database_unreachable_while_healthz_stays_200(tmp_path):
    """A web process whose PostgreSQL is gone (nothing listens on its port)."""
    script = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(raise_request_exception=False)\n"
        "r, h = c.get('/readyz'), c.get('/healthz')\n"
        "print(json.dumps([r.status_code, r.json(), h.status_code]))\n"
    )
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{dead_port}/gone",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "site"), str(ROOT)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    ready_status, ready_body, health_status = json.loads(result.stdout.strip().splitlines()[-1])
    assert ready_status == 503
    assert ready_body["checks"] == {"database": False, "broker": True}
    assert health_status == 200  # (the subprocess' 60 s timeout bounds a hung check)
