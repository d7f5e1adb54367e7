"""Campaigns through Anymail batch sending, on real PostgreSQL, Redis, Celery worker processes
and the fake ESP (Anymail's Postmark backend, `/email/batch`): every recipient exactly once
across a SIGKILLed worker, nobody who left mid-send, pause and resume, a 429 then success, a
recipient the ESP refuses. Deliveries are counted at the ESP (`FakeESP.delivered`)."""

import time
from collections import Counter

import pytest

from campaigns import services
from campaigns.models import Campaign
from contacts.models import Contact, Subscription
from mailings.models import OutboundMail
from mailings.services import mails_requeue_stuck
from tests.fixtures.faults import FakeESP
from tests.fixtures.services import WorkerProcess, wait_for

pytestmark = [pytest.mark.integration]


def confirmed(count: int, prefix: str = "reader") -> list[str]:
    """`count` confirmed subscribers, written in two bulk INSERTs."""
    addresses = [f"{prefix}{i:05d}@example.com" for i in range(count)]
    contacts = Contact.objects.bulk_create([Contact.for_address(a) for a in addresses])
    Subscription.objects.bulk_create(
        [Subscription(contact=c, status=Subscription.Status.CONFIRMED) for c in contacts]
    )
    return addresses


@pytest.fixture
def batch_worker(worker_env, fake_esp: FakeESP, tmp_path):
    """start(**env) runs a worker (one process, one slot) sending batches of 100 through
    Anymail's Postmark backend to the fake ESP; several may be started in turn."""
    from tasks.celery import app

    app.control.purge()
    workers: list[WorkerProcess] = []

    def start(**extra: str) -> WorkerProcess:
        env = dict(worker_env)
        env.update(
            EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
            ANYMAIL_POSTMARK_SERVER_TOKEN="batch-test-token",
            ANYMAIL_POSTMARK_API_URL=fake_esp.url,
            MAIL_BATCH_SIZE="100",
            MAIL_CLAIM_TIMEOUT="3",
            **extra,
        )
        workers.append(WorkerProcess(env, tmp_path / f"worker{len(workers)}.log").start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def send(subject: str = "Issue #9") -> Campaign:
    campaign = services.campaign_draft_save(
        campaign=Campaign(subject=subject, body="Hello."), actor=None
    )
    return services.campaign_send(campaign=campaign, actor=None)


def pending(campaign: Campaign) -> int:
    return OutboundMail.objects.filter(
        pk__in=campaign.recipients.values("mail"),
        status__in=[OutboundMail.Status.QUEUED, OutboundMail.Status.SENDING],
    ).count()


def settled(campaign: Campaign, timeout: float = 60) -> bool:
    def done() -> bool:
        campaign.refresh_from_db()
        return campaign.status == Campaign.Status.SENT and pending(campaign) == 0

    return wait_for(done, timeout=timeout)


def test_a_killed_worker_and_a_new_one_deliver_each_recipient_exactly_once(
    real_broker, fake_esp, batch_worker, settings
):
    from contacts.services import Actor, subscription_unsubscribe

    addresses = confirmed(2000)
    leaving = addresses[-25:]  # unsubscribe mid-send: their mails are among the last batches
    fake_esp.delay = 0.15  # each API call is held: the kill lands while one is in flight
    first = batch_worker()
    campaign = send()
    assert wait_for(lambda: len(fake_esp.delivered) >= 600, timeout=60)
    for address in leaving:
        subscription_unsubscribe(
            subscription_id=Subscription.objects.get(contact__email=address).pk, actor=Actor()
        )
    assert wait_for(fake_esp.holding.is_set, timeout=10)
    first.kill()  # SIGKILL, main process and pool: its batch in flight is never answered
    assert len(fake_esp.delivered) < 2000 - len(leaving)

    fake_esp.delay = 0.0
    batch_worker()  # a new worker takes the batches still in Redis
    time.sleep(3.5)  # the dead worker's claims go stale (MAIL_CLAIM_TIMEOUT=3 s)
    settings.MAIL_CLAIM_TIMEOUT, settings.MAIL_REQUEUE_AFTER = 3, 0
    mails_requeue_stuck()  # beat's sweeper: the killed batch's rows, re-published as batches
    assert settled(campaign)

    counts = Counter(fake_esp.delivered)
    assert set(counts) == set(addresses) - set(leaving)
    assert max(counts.values()) == 1  # exactly once, killed worker or not
    skipped = OutboundMail.objects.filter(to_email__in=leaving, status="skipped")
    assert skipped.count() == len(leaving)
    assert len(fake_esp.calls) < 2000 / 100 + 5  # batches, not one call per mail


def test_pause_holds_the_rest_and_resume_completes(real_broker, fake_esp, batch_worker):
    addresses = confirmed(600)
    fake_esp.delay = 0.1
    batch_worker()
    campaign = send()
    assert wait_for(lambda: len(fake_esp.delivered) >= 100)
    held = services.campaign_pause(campaign=campaign, actor=None)
    assert held > 0
    time.sleep(1)  # the batch in flight when "Pause" was pressed may finish
    during = len(fake_esp.delivered)
    time.sleep(2)
    assert len(fake_esp.delivered) == during < len(addresses)  # nothing new while paused
    assert OutboundMail.objects.filter(status="held").count() == len(addresses) - during

    services.campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk), actor=None)
    assert settled(campaign)
    assert sorted(fake_esp.delivered) == addresses


def test_cancel_while_sending_skips_the_rest_with_the_reason(real_broker, fake_esp, batch_worker):
    confirmed(500)
    fake_esp.delay = 0.1
    batch_worker()
    campaign = send()
    assert wait_for(lambda: len(fake_esp.delivered) >= 100)
    skipped = services.campaign_cancel(campaign=campaign, actor=None)
    time.sleep(1.5)
    assert wait_for(lambda: pending(campaign) == 0)
    assert len(fake_esp.delivered) + skipped == 500
    assert OutboundMail.objects.filter(skip_reason="cancelled").count() == skipped > 0


def test_a_429_is_retried_and_a_refused_recipient_alone_fails(real_broker, fake_esp, batch_worker):
    addresses = confirmed(150)
    fake_esp.script = [429]  # the first call: "too many requests"
    fake_esp.refuse = {addresses[7]}
    batch_worker()
    campaign = send()
    assert settled(campaign)
    assert len(fake_esp.calls) == 3  # the 429, then two batches of 100 and 50
    assert sorted(fake_esp.delivered) == sorted(set(addresses) - {addresses[7]})
    refused = OutboundMail.objects.get(to_email=addresses[7])
    assert refused.status == OutboundMail.Status.FAILED
    assert "invalid" in refused.last_error
    sent = OutboundMail.objects.filter(status="sent")
    assert sent.count() == 149
    assert sent.exclude(esp_message_id="").count() == 149
