"""A campaign on real PostgreSQL, Redis, Celery worker processes and an SMTP server.

"Send now" commits, the fan-out task runs in a worker, each recipient's mail reaches aiosmtpd
once with its own one-click unsubscribe headers; duplicated fan-out tasks running at the
same time in two pool processes change nothing. Whoever unsubscribes (link or admin), is
suppressed by an ESP webhook or erased between the fan-out and the send gets nothing, and
so does a recipient whose mail a worker had already claimed (the check at send time).
"""

import time

import pytest

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient
from contacts.models import Contact, Subscription
from mailings.models import OutboundMail
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


# -- Nobody who left between fan-out and send gets the campaign ----------------------------------


@pytest.fixture
def held_worker(smtp_worker_env, tmp_path):  # noqa: F811 (the fixture above)
    """start() runs the mail worker only when the test says so: until then, the fan-out's
    send tasks wait in Redis, as during a long send."""
    from tasks.celery import app

    app.control.purge()
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        workers.append(WorkerProcess(smtp_worker_env, tmp_path / "worker.log").start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def fanned_out(*emails: str) -> dict[str, OutboundMail]:
    """Send a campaign to confirmed subscribers and run its fan-out here: every mail row is
    committed and its send task published, and no worker has taken one yet."""
    subscribers(*emails)
    campaign = services.campaign_draft_save(
        campaign=Campaign(subject="Issue #2", body="Hello."), actor=None
    )
    services.campaign_send(campaign=campaign, actor=None)  # its fan-out task waits too
    assert services.campaign_fan_out(campaign_id=campaign.pk).done
    mails = OutboundMail.objects.filter(pk__in=CampaignRecipient.objects.values("mail"))
    assert {m.status for m in mails} == {OutboundMail.Status.QUEUED}
    return {mail.to_email: mail for mail in mails}


def settled(mails: dict[str, OutboundMail]) -> dict[str, tuple[str, str]]:
    """(status, skip reason) of each mail once none is queued or being sent any more."""
    pending = {OutboundMail.Status.QUEUED, OutboundMail.Status.SENDING}

    def states() -> dict[str, tuple[str, str]] | None:
        rows = OutboundMail.objects.in_bulk([m.pk for m in mails.values()])
        found = {to: (rows[m.pk].status, rows[m.pk].skip_reason) for to, m in mails.items()}
        return None if any(status in pending for status, _ in found.values()) else found

    return wait_for(states) or {}


def test_who_unsubscribes_is_suppressed_or_erased_after_the_fan_out_gets_nothing(
    real_broker, smtp_server, held_worker, admin_client
):
    from anymail.signals import AnymailTrackingEvent, tracking

    from contacts.gdpr import contact_erase
    from contacts.services import Actor, subscription_unsubscribe

    mailbox, _ = smtp_server
    by_link, by_admin, bounced, erased, *kept = READERS
    mails = fanned_out(*READERS)

    subscription_unsubscribe(
        subscription_id=Subscription.objects.get(contact__email=by_link).pk,
        actor=Actor(detail="one-click"),
    )
    admin_client.post(
        "/admin/contacts/contact/",
        {"action": "unsubscribe", "_selected_action": [Contact.objects.get(email=by_admin).pk]},
    )
    tracking.send(
        sender=object,
        event=AnymailTrackingEvent(
            event_type="complained", event_id="c-1", recipient=bounced.upper(), esp_event={}
        ),
        esp_name="Postmark",
    )
    contact_erase(contact_id=Contact.objects.get(email=erased).pk, actor=None)

    held_worker()
    assert settled(mails) == {
        by_link: ("skipped", "unsubscribed"),
        by_admin: ("skipped", "unsubscribed"),
        bounced: ("skipped", "suppressed"),
        erased: ("skipped", "erased"),
        **dict.fromkeys(kept, ("sent", "")),
    }
    time.sleep(1)  # the cancelled rows' send tasks ran too: they found nothing to do
    assert sorted(m["To"] for m in mailbox.messages) == kept
    assert Subscription.objects.get(contact__email=by_admin).status == "unsubscribed"


def test_a_mail_claimed_before_the_unsubscribe_is_stopped_by_the_check_at_send_time(
    real_broker, smtp_server, held_worker
):
    """The cancel never sees these rows: one is being sent (claimed by a worker that then
    died) when its recipient unsubscribes; the other's consent goes by a raw status change."""
    from django.utils import timezone

    from contacts.services import Actor, subscription_unsubscribe

    mailbox, _ = smtp_server
    claimed, flipped, kept = READERS[:3]
    mails = fanned_out(claimed, flipped, kept)
    OutboundMail.objects.filter(pk=mails[claimed].pk).update(
        status=OutboundMail.Status.SENDING, claimed_at=timezone.now(), attempts=1
    )
    subscription_unsubscribe(
        subscription_id=Subscription.objects.get(contact__email=claimed).pk, actor=Actor()
    )
    assert OutboundMail.objects.get(pk=mails[claimed].pk).status == "sending"  # not cancelled
    Subscription.objects.filter(contact__email=flipped).update(status="unsubscribed")

    held_worker()  # takes over the stale claim (MAIL_CLAIM_TIMEOUT=3 s) and checks again
    assert settled(mails) == {
        claimed: ("skipped", "unsubscribed"),
        flipped: ("skipped", "unsubscribed"),
        kept: ("sent", ""),
    }
    assert [m["To"] for m in mailbox.messages] == [kept]
