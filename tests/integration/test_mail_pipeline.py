"""The mail pipeline against real PostgreSQL, Redis, a Celery worker process and SMTP."""

import os
import signal
import subprocess
import time

import pytest

from mailings import services
from mailings.models import OutboundMail
from tests.fixtures.mailings import make_mail
from tests.fixtures.services import broker_unreachable, wait_for

pytestmark = [pytest.mark.integration]


@pytest.fixture
def smtp_worker_env(worker_env, smtp_server) -> dict[str, str]:
    _, port = smtp_server
    worker_env.update(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        MAIL_CLAIM_TIMEOUT="3",
    )
    return worker_env


@pytest.fixture
def smtp_worker(smtp_worker_env, tmp_path):
    from tasks.celery import app
    from tests.fixtures.services import WorkerProcess

    app.control.purge()
    worker = WorkerProcess(smtp_worker_env, tmp_path / "worker.log").start()
    yield worker
    worker.stop()


def status_of(mail: OutboundMail) -> str:
    mail.refresh_from_db()
    return mail.status


def test_mail_row_committed_then_sent_by_the_worker(real_broker, smtp_server, smtp_worker):
    mailbox, _ = smtp_server
    mail = make_mail(to="reader@example.com")
    [message] = mailbox.wait_for(1)
    assert message["To"] == "reader@example.com"
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT)


def test_the_same_task_delivered_twice_sends_one_mail(real_broker, smtp_server, smtp_worker):
    from tasks.mailings import mail_send

    mailbox, _ = smtp_server
    mail = make_mail(to="twice@example.com")
    mail_send.delay(mail.pk)
    mail_send.delay(mail.pk)
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT)
    time.sleep(2)  # give the duplicate deliveries time to (not) send
    assert len(mailbox.messages) == 1


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_worker_killed_mid_send_is_redelivered_and_sends_once(
    real_broker, smtp_server, smtp_worker
):
    mailbox, _ = smtp_server
    mailbox.delay = 4.0  # the server holds the DATA phase: we kill the sender meanwhile
    mail = make_mail(to="killed@example.com")
    assert mailbox.receiving.wait(20), "the worker never reached the SMTP server"
    [child] = child_pids(smtp_worker.proc.pid)
    os.kill(child, signal.SIGKILL)  # the pool process dies mid-send, as with the OOM killer
    assert status_of(mail) == OutboundMail.Status.SENDING
    mailbox.delay = 0.0
    # Redelivered (acks_late + reject_on_worker_lost); the stale claim is retaken after 3 s.
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT, timeout=40)
    time.sleep(1)
    assert [m["To"] for m in mailbox.messages] == ["killed@example.com"]
    mail.refresh_from_db()
    assert mail.attempts == 2


def test_broker_down_at_enqueue_loses_nothing_and_the_sweeper_sends_once(
    real_broker, smtp_server, smtp_worker, settings
):
    mailbox, _ = smtp_server
    with broker_unreachable():
        mail = make_mail(to="patient@example.com")  # returns; the publish failed and was logged
    assert status_of(mail) == OutboundMail.Status.QUEUED
    time.sleep(1)
    assert mailbox.messages == []
    settings.MAIL_REQUEUE_AFTER = 0
    assert services.mails_requeue_stuck() == 1
    assert services.mails_requeue_stuck() == 1  # a second sweep republishes: still one mail
    assert wait_for(lambda: status_of(mail) == OutboundMail.Status.SENT)
    time.sleep(1)
    assert [m["To"] for m in mailbox.messages] == ["patient@example.com"]
