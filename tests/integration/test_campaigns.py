"""A campaign on real PostgreSQL, Redis, Celery worker processes and an SMTP server.

"Send now" commits, the fan-out task runs in a worker, each recipient's mail reaches aiosmtpd
once with its own one-click unsubscribe headers; duplicated fan-out tasks running at the
same time in two pool processes change nothing.
"""

import time

import pytest

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient
from contacts.models import Contact, Subscription
from tests.fixtures.services import WorkerProcess, wait_for
from tests.integration.test_mail_pipeline import smtp_worker_env  # noqa: F401 (fixture)
from tests.unit.campaigns.conftest import unsubscribe_target

pytestmark = [pytest.mark.integration]

READERS = [f"reader{i}@example.com" for i in range(6)]


@pytest.fixture
def two_process_worker(smtp_worker_env, tmp_path):  # noqa: F811 (the fixture above)
    from tasks.celery import app

    app.control.purge()
    worker = WorkerProcess(smtp_worker_env, tmp_path / "worker.log", concurrency=2).start()
    yield worker
    worker.stop()


def subscribers(*emails: str, status: str = Subscription.Status.CONFIRMED) -> list[Subscription]:
    """Subscriptions written directly: the worker would otherwise mail their confirmations."""
    subs = []
    for email in emails:
        contact = Contact.for_address(email)
        contact.save()
        subs.append(Subscription.objects.create(contact=contact, status=status))
    return subs


def test_a_campaign_reaches_each_subscriber_once_through_the_worker(
    real_broker, smtp_server, two_process_worker
):
    from tasks.campaigns import campaign_fan_out

    mailbox, _ = smtp_server
    subs = subscribers(*READERS)
    subscribers("gone@example.com", status=Subscription.Status.UNSUBSCRIBED)
    campaign = services.campaign_draft_save(
        campaign=Campaign(subject="Issue #1", body="Hello **everyone**."), actor=None
    )
    services.campaign_send(campaign=campaign, actor=None)
    campaign_fan_out.delay(campaign.pk)  # duplicates, as from a redelivery, in parallel
    campaign_fan_out.delay(campaign.pk)

    messages = mailbox.wait_for(len(READERS))
    assert wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT)
    time.sleep(2)  # give the duplicate fan-outs time to (not) queue more
    assert sorted(m["To"] for m in mailbox.messages) == READERS
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == len(READERS)
    by_address = {m["To"]: m for m in messages}
    for sub in subs:
        message = by_address[sub.contact.email]
        assert message["Subject"] == "Issue #1"
        assert unsubscribe_target(message["List-Unsubscribe"]) == sub.pk
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        html = message.get_body(("html",)).get_content()
        assert "<strong>everyone</strong>" in html
    campaign.refresh_from_db()
    assert (campaign.recipients_count, campaign.queued_count) == (len(READERS), len(READERS))
