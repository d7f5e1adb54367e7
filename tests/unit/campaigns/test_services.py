"""Campaign services: audience, sending, the idempotent and resumable fan-out, test sends."""

from django.core import mail as django_mail
from django.db import IntegrityError, transaction

import pytest

from campaigns import selectors, services
from campaigns.models import Campaign, CampaignRecipient
from contacts.models import Contact, Segment
from contacts.segments import contacts_tag_add, tag_get_or_create
from contacts.services import subscription_unsubscribe
from core.models import AuditEntry
from mailings.models import OutboundMail
from mailings.services import suppression_add
from tests.unit.campaigns.conftest import make_campaign, subscribers, unsubscribe_target
from tests.unit.contacts.conftest import ACTOR, make_subscription

pytestmark = pytest.mark.django_db

CONFIRMED = ("ann@example.com", "bob@example.com", "cyd@example.com")


def campaign_mails() -> list[OutboundMail]:
    return list(OutboundMail.objects.filter(template=services.TEMPLATE).order_by("to_email"))


def recipients_of(outbox: list) -> list[str]:
    return sorted(address for message in outbox for address in message.to)


@pytest.fixture
def audience():
    """Three confirmed subscribers, and one of every state a campaign must never mail."""
    subscribers(*CONFIRMED)
    make_subscription("pat@example.com", "pending")
    make_subscription("una@example.com", "unsubscribed")
    make_subscription("bea@example.com", "bounced")
    make_subscription("sue@example.com", "suppressed")
    make_subscription("sam@example.com", "confirmed")
    suppression_add(email="SAM@example.com", reason="complained")  # confirmed but suppressed


# -- Audience ----------------------------------------------------------------------------------


def test_all_subscribers_means_confirmed_and_not_suppressed(audience):
    campaign = make_campaign()
    emails = list(selectors.campaign_audience(campaign=campaign).values_list("email", flat=True))
    assert emails == list(CONFIRMED)  # ordered by id, nobody else
    assert selectors.campaign_audience_count(campaign=campaign) == 3


def test_a_segment_narrows_the_audience_but_never_widens_it_past_confirmed(audience):
    tag = tag_get_or_create(name="webinar")
    tagged = Contact.objects.filter(
        email__in=["bob@example.com", "pat@example.com", "una@example.com", "sam@example.com"]
    )
    contacts_tag_add(contacts=tagged, tag=tag)
    # A segment of any status: the campaign still mails confirmed, unsuppressed contacts only.
    segment = Segment.objects.create(name="Webinar guests", status="")
    segment.tags.add(tag)
    campaign = make_campaign(audience=Campaign.Audience.SEGMENT, segment=segment)
    emails = list(selectors.campaign_audience(campaign=campaign).values_list("email", flat=True))
    assert emails == ["bob@example.com"]


def test_all_subscribers_drops_a_leftover_segment():
    segment = Segment.objects.create(name="Anyone")
    campaign = make_campaign(audience=Campaign.Audience.ALL, segment=segment)
    assert campaign.segment is None


# -- Sending -----------------------------------------------------------------------------------


def test_send_queues_one_mail_per_recipient_and_marks_the_campaign_sent(audience, run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert campaign.send_started_at is not None
    assert campaign.sent_at is not None
    assert (campaign.recipients_count, campaign.queued_count) == (3, 3)
    assert recipients_of(django_mail.outbox) == sorted(CONFIRMED)
    assert {m.status for m in campaign_mails()} == {OutboundMail.Status.SENT}
    assert {m.category for m in campaign_mails()} == {OutboundMail.Category.MARKETING}
    assert CampaignRecipient.objects.filter(campaign=campaign, mail__isnull=False).count() == 3
    entry = AuditEntry.objects.get(action="campaign_send")
    assert entry.detail["campaign_id"] == campaign.pk
    assert entry.detail["recipients"] == 3


def test_the_campaign_mail_has_the_issue_its_own_unsubscribe_link_and_rfc8058_headers(
    run_on_commit, settings
):
    """Through the single-mail path: a backend that cannot batch (mailings.esp)."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    [sub] = subscribers("ann@example.com")
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    [message] = django_mail.outbox
    header = message.extra_headers["List-Unsubscribe"]
    assert unsubscribe_target(header) == sub.pk  # the recipient's own one-click link
    link = header[1:-1]
    assert message.subject == "Issue #1: discovery"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Unsubscribe with one click: {link}" in message.body
    assert "Hello **readers**." in message.body  # the Markdown source is the text part
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<strong>readers</strong>" in html
    assert 'href="http://testserver/modern-product-management/5/"' in html  # made absolute
    assert f'href="{link}"' in html
    assert "Five habits" in html  # the preheader
    assert "[TEST]" not in html


def test_a_batch_carries_each_recipients_link_as_merge_data_and_headers(run_on_commit):
    """Through Anymail batch sending: one message, the body rendered once with merge fields,
    each recipient's one-click link in `merge_data` and RFC 8058 headers in `merge_headers`."""
    subs = subscribers("ann@example.com", "bob@example.com")
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    [message] = django_mail.outbox
    assert sorted(message.to) == ["ann@example.com", "bob@example.com"]
    params = message.anymail_test_params
    for sub in subs:
        headers = params["merge_headers"][sub.contact.email]
        assert unsubscribe_target(headers["List-Unsubscribe"]) == sub.pk
        assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = headers["List-Unsubscribe"][1:-1]
        assert params["merge_data"][sub.contact.email]["unsubscribe_url"] == link
    assert "List-Unsubscribe" not in message.extra_headers
    assert "Unsubscribe with one click: {{unsubscribe_url}}" in message.body
    assert 'href="{{unsubscribe_url}}"' in message.alternatives[0][0]
    assert {m.status for m in campaign_mails()} == {OutboundMail.Status.SENT}


def test_test_send_goes_to_the_staff_address_only_marked_test(audience, run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send_test(campaign=campaign, to="mia@staff.example.com")
    [message] = django_mail.outbox
    assert message.to == ["mia@staff.example.com"]
    assert message.subject == "[TEST] Issue #1: discovery"
    assert "List-Unsubscribe" not in message.extra_headers
    assert "<strong>readers</strong>" in message.alternatives[0][0]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not CampaignRecipient.objects.exists()


def test_a_test_send_after_an_edit_shows_the_new_text(run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send_test(campaign=campaign, to="mia@staff.example.com")
    campaign.body = "Second draft."
    services.campaign_draft_save(campaign=campaign, actor=None)
    with run_on_commit():
        services.campaign_send_test(campaign=campaign, to="mia@staff.example.com")
    assert "Second draft." in django_mail.outbox[1].body
    assert "Second draft." not in django_mail.outbox[0].body


def test_only_a_draft_can_be_edited_or_sent(audience, run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    with pytest.raises(services.CampaignStateError):
        services.campaign_send(campaign=campaign, actor=None)
    campaign.subject = "Changed after sending"
    with pytest.raises(services.CampaignStateError):
        services.campaign_draft_save(campaign=campaign, actor=None)
    assert Campaign.objects.get(pk=campaign.pk).subject == "Issue #1: discovery"
    assert len(recipients_of(django_mail.outbox)) == 3


# -- Fan-out: idempotent, resumable, rules applied at fan-out time ----------------------------


def test_running_the_fan_out_twice_never_doubles_a_mail(audience, run_on_commit):
    campaign = make_campaign()
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)
    # A redelivered task while the campaign still reads SENDING, then one after it is SENT.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    with run_on_commit():
        assert services.campaign_fan_out(campaign_id=campaign.pk).queued == 0
        assert services.campaign_fan_out(campaign_id=campaign.pk).queued == 0
    assert len(campaign_mails()) == 3
    assert recipients_of(django_mail.outbox) == sorted(CONFIRMED)
    assert Campaign.objects.get(pk=campaign.pk).queued_count == 3


def test_one_recipient_row_per_contact_and_campaign():
    [sub] = subscribers("ann@example.com")
    campaign = make_campaign()
    CampaignRecipient.objects.create(campaign=campaign, contact_id=sub.contact_id)
    CampaignRecipient.objects.bulk_create(
        [CampaignRecipient(campaign=campaign, contact_id=sub.contact_id)], ignore_conflicts=True
    )
    assert CampaignRecipient.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignRecipient.objects.create(campaign=campaign, contact_id=sub.contact_id)


def test_a_fan_out_that_died_mid_batch_resumes_without_duplicates(
    audience, run_on_commit, monkeypatch
):
    subscribers("dan@example.com", "eve@example.com")  # five recipients in all
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)  # on-commit fan-out not run
    published = []
    monkeypatch.setattr("config.jobs.enqueue_campaign_fan_out", published.append)

    # Run 1: one batch of two commits, then the run hands over to a fresh task.
    with run_on_commit():
        result = services.campaign_fan_out(campaign_id=campaign.pk, batch_size=2, max_batches=1)
    assert result == services.FanOutResult(queued=2, done=False)
    assert published == [campaign.pk]

    # Run 2 dies in the middle of its batch (after one of two mails): the batch rolls back.
    real_url, calls = services.unsubscribe_url, []

    def dying_url(*, subscription_id: int) -> str:
        calls.append(subscription_id)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return real_url(subscription_id=subscription_id)

    monkeypatch.setattr(services, "unsubscribe_url", dying_url)
    with pytest.raises(RuntimeError), run_on_commit():
        services.campaign_fan_out(campaign_id=campaign.pk, batch_size=2)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2
    assert len(campaign_mails()) == 2
    monkeypatch.setattr(services, "unsubscribe_url", real_url)

    # The redelivered run finishes the job: everyone exactly once.
    with run_on_commit():
        result = services.campaign_fan_out(campaign_id=campaign.pk, batch_size=2)
    assert result == services.FanOutResult(queued=3, done=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert campaign.queued_count == 5
    emails = [m.to_email for m in campaign_mails()]
    assert sorted(emails) == sorted([*CONFIRMED, "dan@example.com", "eve@example.com"])
    assert len(recipients_of(django_mail.outbox)) == 5


def test_who_left_between_send_and_fan_out_is_skipped(audience, run_on_commit):
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)  # fan-out not run yet
    ann = Contact.objects.get(email="ann@example.com")
    subscription_unsubscribe(subscription_id=ann.subscription.pk, actor=ACTOR)
    suppression_add(email="bob@example.com", reason="bounced")
    with run_on_commit():
        services.campaign_fan_out(campaign_id=campaign.pk)
    assert recipients_of(django_mail.outbox) == ["cyd@example.com"]
    campaign.refresh_from_db()
    assert (campaign.recipients_count, campaign.queued_count) == (3, 1)


def test_a_campaign_cancelled_mid_send_queues_nothing_more(audience, run_on_commit):
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)
    services.campaign_cancel(campaign=campaign, actor=None)
    with run_on_commit():
        assert services.campaign_fan_out(campaign_id=campaign.pk).done
    assert campaign_mails() == []
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED


def test_resuming_a_stalled_send_publishes_the_fan_out_again(audience, run_on_commit):
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)  # the publish was "lost"
    with run_on_commit():
        services.campaign_send(campaign=campaign, actor=None)  # "Resume sending"
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    assert recipients_of(django_mail.outbox) == sorted(CONFIRMED)
    assert AuditEntry.objects.filter(action="campaign_resume").count() == 1


def test_the_sweeper_resumes_only_campaigns_idle_in_sending(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from config import jobs

    published: list[int] = []
    monkeypatch.setattr(jobs, "enqueue_campaign_fan_out", lambda pk: published.append(pk) or True)
    stuck = make_campaign(subject="Stuck")
    running = make_campaign(subject="Running")
    draft = make_campaign(subject="Draft")
    Campaign.objects.filter(pk__in=[stuck.pk, running.pk]).update(status=Campaign.Status.SENDING)
    Campaign.objects.filter(pk__in=[stuck.pk, draft.pk]).update(
        updated_at=timezone.now() - timedelta(minutes=11)
    )
    assert services.campaigns_resume_stuck(idle_seconds=600) == 1
    assert published == [stuck.pk]
