"""Campaign control: schedule (a row beat picks up), pause, resume and cancel while sending,
live progress, and the admin's buttons, each through its service with an audit row."""

from datetime import timedelta

from django.core import mail as django_mail
from django.urls import reverse
from django.utils import timezone

import pytest

from campaigns import services
from campaigns.models import Campaign
from campaigns.progress import campaign_progress
from core.models import AuditEntry
from mailings.models import OutboundMail
from tests.unit.campaigns.conftest import make_campaign, subscribers

pytestmark = pytest.mark.django_db

READERS = ("ann@example.com", "bob@example.com", "cyd@example.com")


def fanned_out(monkeypatch) -> Campaign:
    """A campaign whose mails are queued and whose batch tasks were not run."""
    monkeypatch.setattr("config.jobs.enqueue_mail_send_batch", lambda ids: True)
    subscribers(*READERS)
    campaign = make_campaign()
    services.campaign_send(campaign=campaign, actor=None)
    assert services.campaign_fan_out(campaign_id=campaign.pk).done
    return Campaign.objects.get(pk=campaign.pk)


def campaign_mails():
    return OutboundMail.objects.filter(template="campaign")


def statuses() -> set[str]:
    return set(campaign_mails().values_list("status", flat=True))


def test_a_scheduled_campaign_starts_when_due_and_not_before(run_on_commit):
    subscribers(*READERS)
    campaign = make_campaign()
    soon = timezone.now() + timedelta(minutes=5)
    services.campaign_schedule(campaign=campaign, send_at=soon, actor=None)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED
    assert services.campaigns_start_due() == 0
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now() - timedelta(seconds=1))
    with run_on_commit():
        assert services.campaigns_start_due() == 1
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    assert sorted(to for m in django_mail.outbox for to in m.to) == sorted(READERS)
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["campaign_schedule", "campaign_send"]


def test_scheduling_needs_a_future_time_and_cancel_ends_it_before_it_starts():
    campaign = make_campaign()
    with pytest.raises(services.AppError):
        services.campaign_schedule(campaign=campaign, send_at=timezone.now(), actor=None)
    later = timezone.now() + timedelta(hours=1)
    services.campaign_schedule(campaign=campaign, send_at=later, actor=None)
    campaign.subject = "Edited while scheduled"
    with pytest.raises(services.CampaignStateError):
        services.campaign_draft_save(campaign=campaign, actor=None)
    assert services.campaign_cancel(campaign=campaign, actor=None) == 0
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now())
    assert services.campaigns_start_due() == 0
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED


def test_pause_holds_the_queued_mails_and_resume_queues_and_publishes_them(
    monkeypatch, django_capture_on_commit_callbacks
):
    campaign = fanned_out(monkeypatch)
    assert services.campaign_pause(campaign=campaign, actor=None) == 3
    assert statuses() == {"held"}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.paused_from) == ("paused", "sent")
    from mailings import batch

    ids = list(campaign_mails().values_list("pk", flat=True))
    assert batch.mail_batch_send(mail_ids=ids).sent == 0  # a paused campaign's batch: nothing
    published = []
    monkeypatch.setattr("config.jobs.enqueue_mail_send_batch", published.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.campaign_resume(campaign=campaign, actor=None) == 3
    assert statuses() == {"queued"}
    assert published == [sorted(ids)]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"campaign_pause", "campaign_resume"} <= actions


def test_the_sweeper_leaves_a_paused_campaigns_mails_alone(monkeypatch, settings):
    from mailings.services import mails_requeue_stuck

    campaign = fanned_out(monkeypatch)
    services.campaign_pause(campaign=campaign, actor=None)
    OutboundMail.objects.exclude(template="campaign").update(status="sent")  # the welcomes
    settings.MAIL_REQUEUE_AFTER = 0
    assert mails_requeue_stuck() == 0
    assert statuses() == {"held"}


def test_cancel_while_sending_skips_the_rest_with_the_reason_and_counts_them(monkeypatch):
    campaign = fanned_out(monkeypatch)
    first = campaign_mails().order_by("pk").first()
    OutboundMail.objects.filter(pk=first.pk).update(status="sent", sent_at=timezone.now())
    assert services.campaign_cancel(campaign=campaign, actor=None) == 2
    assert statuses() == {"sent", "skipped"}
    assert set(
        OutboundMail.objects.filter(status="skipped").values_list("skip_reason", flat=True)
    ) == {"cancelled"}
    entry = AuditEntry.objects.get(action="campaign_cancel")
    assert entry.detail["skipped"] == 2
    progress = campaign_progress(campaign=Campaign.objects.get(pk=campaign.pk))
    assert (progress.sent, progress.skipped, progress.skipped_by_reason) == (1, 2, {"cancelled": 2})


def test_progress_counts_rate_and_finish_estimate(monkeypatch):
    campaign = fanned_out(monkeypatch)
    first = campaign_mails().order_by("pk").first()
    OutboundMail.objects.filter(pk=first.pk).update(
        status="sent", sent_at=timezone.now() - timedelta(seconds=2)
    )
    progress = campaign_progress(campaign=campaign)
    assert (progress.audience, progress.queued, progress.sent) == (3, 2, 1)
    assert progress.rate > 0
    assert progress.finish_eta is not None
    assert progress.finish_eta > timezone.now()


def test_the_admin_buttons_call_the_services(client, marketer, monkeypatch):
    campaign = fanned_out(monkeypatch)
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    html = page.content.decode()
    assert "Pause" in html
    assert "Cancel campaign" in html
    assert "audience 3 · queued 3" in html
    client.post(reverse("admin:campaigns_campaign_pause", args=[campaign.pk]))
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED
    html = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content
    assert b"Resume" in html
    assert b"paused 3" in html
    client.post(reverse("admin:campaigns_campaign_resume", args=[campaign.pk]))
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    client.post(reverse("admin:campaigns_campaign_cancel", args=[campaign.pk]))
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.CANCELLED
    assert AuditEntry.objects.filter(actor=marketer).count() == 3


def test_the_admin_schedules_a_draft(client, marketer):
    campaign = make_campaign()
    when = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(reverse("admin:campaigns_campaign_schedule", args=[campaign.pk]), {"send_at": when})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert timezone.localtime(campaign.send_at).strftime("%Y-%m-%dT%H:%M") == when
    assert AuditEntry.objects.filter(action="campaign_schedule", actor=marketer).exists()
