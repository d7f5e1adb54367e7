"""Newsletter issues (campaigns) and the one-row-per-recipient record of their fan-out.

A campaign is edited while it is a DRAFT; `campaign_schedule` freezes it until `send_at`
(SCHEDULED), `campaign_send` freezes it now (SENDING), the fan-out task records one
CampaignRecipient per contact and queues its mail in batches, then marks it SENT (every mail
queued; the `mail` queue may still be sending). PAUSED holds its queued mails; CANCELLED
skips them. Rows are written by campaigns.services only.
"""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from contacts.models import Contact, Segment
from mailings.models import OutboundMail


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        #: Frozen, waiting for `send_at` (beat's campaigns_start_due starts it).
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        #: No new batch is claimed: its queued mails are held until "Resume".
        PAUSED = "paused", "Paused"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    class Audience(models.TextChoices):
        ALL = "all", "All confirmed subscribers"
        SEGMENT = "segment", "A saved segment (its confirmed subscribers)"

    subject = models.CharField(max_length=150)
    #: The line inboxes show after the subject; hidden in the mail itself.
    preheader = models.CharField(max_length=150, blank=True)
    body = models.TextField(
        help_text="Markdown: **bold**, _italic_, [links](https://…), ## headings, lists. "
        "Raw HTML is shown as text."
    )
    audience = models.CharField(max_length=10, choices=Audience.choices, default=Audience.ALL)
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="Only its confirmed, unsuppressed contacts are mailed, whatever its status.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    #: When a SCHEDULED campaign starts (beat checks every minute).
    send_at = models.DateTimeField("send at", null=True, blank=True)
    #: When "Send now" was confirmed (the fan-out starts right after).
    send_started_at = models.DateTimeField(null=True, blank=True)
    #: When the fan-out finished: every recipient has a queued mail.
    sent_at = models.DateTimeField(null=True, blank=True)
    #: The audience size when "Send now" was confirmed.
    recipients_count = models.PositiveIntegerField("recipients", default=0)
    #: Mails queued by the fan-out so far (one per CampaignRecipient).
    queued_count = models.PositiveIntegerField("mails queued", default=0)
    #: Set while PAUSED: the fan-out had finished (SENT) or not (SENDING) before the pause.
    paused_from = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("send_campaign", "Can send campaigns to subscribers")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(audience="segment") | Q(segment__isnull=False),
                name="campaign_segment_audience_has_segment",
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(send_at__isnull=False),
                name="campaign_scheduled_has_send_at",
            ),
        ]
        indexes = [
            # Beat's due scan: only scheduled campaigns are in it, ordered by when they start.
            models.Index(fields=["send_at"], condition=Q(status="scheduled"), name="campaign_due"),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def content_version(self) -> str:
        """Hash of what the mail shows: keys the rendered-content cache of the mail composer."""
        material = "\x1f".join([self.subject, self.preheader, self.body])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    @property
    def audience_label(self) -> str:
        if self.audience == self.Audience.SEGMENT and self.segment_id:
            return f"Segment: {self.segment}"
        return self.get_audience_display()


class CampaignRecipient(models.Model):
    """One contact of one campaign: at most one row, hence at most one mail, per pair.

    Inserted by the fan-out with ON CONFLICT DO NOTHING; its mail is created only while the
    row has none, in the same transaction.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    mail = models.OneToOneField(
        OutboundMail, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_recipient_once")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.contact_id}"
