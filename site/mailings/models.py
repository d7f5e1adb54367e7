"""Outbound mail rows, ESP delivery events and the global suppression list."""

import hashlib

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


def email_hash(email: str) -> str:
    """Stable hash of a normalized address: suppression survives a GDPR erase."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class OutboundMail(models.Model):
    """One mail to one recipient. Created in the transaction of the action that causes it,
    enqueued after commit, claimed by a conditional update, sent at most once per claim."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"
        #: A marketing mail withheld because consent was gone when it was due (never sent).
        SKIPPED = "skipped", "Skipped"
        #: Waiting while its campaign is paused: nothing claims it, the sweeper leaves it alone.
        HELD = "held", "Paused"

    class SkipReason(models.TextChoices):
        """Why a marketing mail was skipped (mailings.consent)."""

        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        SUPPRESSED = "suppressed", "Suppressed or blocked"
        ERASED = "erased", "Contact erased"
        NOT_CONFIRMED = "not_confirmed", "Not a confirmed subscriber"
        #: Fail closed: no app registered a consent check (mailings.consent).
        NO_CONSENT_CHECK = "no_consent_check", "No consent check"
        #: Its campaign was cancelled before the mail went out.
        CANCELLED = "cancelled", "Campaign cancelled"

    class Category(models.TextChoices):
        TRANSACTIONAL = "transactional", "Transactional"
        MARKETING = "marketing", "Marketing"

    to_email = models.EmailField(max_length=254)
    template = models.CharField(max_length=100)
    context = models.JSONField(default=dict, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    #: Absolute one-click unsubscribe URL (RFC 8058); empty for mails that need none.
    unsubscribe_url = models.URLField(max_length=500, blank=True)
    #: Storage name of a file to attach (e.g. the eBook PDF), with its download file name.
    attachment_name = models.CharField(max_length=300, blank=True)
    attachment_filename = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    #: Last time a send task was published for this row (the sweeper's clock).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    #: Set with status SKIPPED only.
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    esp_message_id = models.CharField(max_length=200, blank=True, db_index=True)
    #: Last status the ESP reported (delivered, bounced, ...), from webhooks.
    delivery_status = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="mail_status_created"),
            # An unsubscribe cancels the address's queued mails (mailings.consent): a small
            # index of queued rows only, so that stays a lookup during a 100,000-mail send.
            models.Index(Lower("to_email"), condition=Q(status="queued"), name="mail_queued_to"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.template} #{self.pk} ({self.status})"


class Suppression(models.Model):
    """An address we must never mail again (bounce, complaint, ESP unsubscribe, erase).

    Keyed by the hash of the normalized address so that it survives erasure of the contact.
    Only an explicit admin action removes a row."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed at the ESP"
        ERASED = "erased", "Erased (GDPR)"
        MANUAL = "manual", "Suppressed by an admin"

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.email_hash[:10]}…)"


class DeliveryEvent(models.Model):
    """An ESP tracking event, stored once (unique on ESP + event id) so replays are no-ops."""

    esp_name = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=30)
    reject_reason = models.CharField(max_length=30, blank=True)
    esp_message_id = models.CharField(max_length=200, blank=True, db_index=True)
    recipient_hash = models.CharField(max_length=64, blank=True)
    mail = models.ForeignKey(OutboundMail, null=True, blank=True, on_delete=models.SET_NULL)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["esp_name", "event_id"], name="delivery_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.esp_name} {self.event_type}"
