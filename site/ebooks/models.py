"""Get-the-PDF requests and the downloads of their links (attribution for marketers).

Rows are written by ebooks.services only. A request is stored before anything is enqueued;
`mail` and `delivered_at` are set in the transaction that creates its delivery mail, so a
request without them is still waiting (the sweeper publishes it again).
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from core.models import AttributionFields
from mailings.models import OutboundMail


class EbookRequest(AttributionFields):
    """One accepted "Get the PDF" form: who, which guide, from where; and its delivery."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="ebook_requests")
    guide_slug = models.CharField("guide", max_length=100)
    # chapter, form, page, referrer and UTM columns: core.models.AttributionFields.
    #: The visitor also ticked the newsletter box (that consent lives in contacts' ledger).
    newsletter_opt_in = models.BooleanField("newsletter", default=False)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    #: Last time a delivery task was published for this row (the sweeper's clock) ...
    enqueued_at = models.DateTimeField(null=True, blank=True)
    #: ... and how many times in all; the sweeper stops at EBOOK_REQUEUE_MAX.
    enqueue_count = models.PositiveSmallIntegerField(default=0)
    #: When the delivery mail was queued (its sending is the mail pipeline's business).
    delivered_at = models.DateTimeField("delivered", null=True, blank=True)
    mail = models.ForeignKey(
        OutboundMail, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The content version whose PDF the mail carries (and the link serves while it exists).
    version = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The per-address limit: this contact's requests for one guide, newest first.
            models.Index(fields=["contact", "guide_slug", "created_at"], name="ebookreq_limit"),
            # Admin filters and the per-guide counts.
            models.Index(fields=["guide_slug", "chapter_number"], name="ebookreq_source"),
            models.Index(fields=["form_name", "created_at"], name="ebookreq_form"),
            models.Index(fields=["created_at"], name="ebookreq_created"),
            # The sweeper looks only at the few undelivered rows.
            models.Index(
                fields=["enqueued_at"],
                condition=Q(delivered_at__isnull=True),
                name="ebookreq_undelivered",
            ),
        ]
        verbose_name = "PDF request"  # not "eBook": the admin capitalises the first letter

    def __str__(self) -> str:
        chapter = f" ch. {self.chapter_number}" if self.chapter_number else ""
        return f"{self.guide_slug}{chapter} #{self.pk}"

    @property
    def is_delivered(self) -> bool:
        return self.delivered_at is not None


class EbookDownload(models.Model):
    """One download through a mailed link (GET, not HEAD), for attribution."""

    request = models.ForeignKey(EbookRequest, on_delete=models.CASCADE, related_name="downloads")
    #: The content version actually served (the current one when the mailed one was pruned).
    version = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], name="ebookdl_created")]
        verbose_name = "PDF download"

    def __str__(self) -> str:
        return f"download of request #{self.request_id} at {self.created_at:%Y-%m-%d %H:%M} UTC"


class EbookFileProxy(EbookRequest):
    """No data of its own: the admin's "eBook files" page (one line per guide, read from the
    storage) hangs off this proxy so that it appears in the admin index with permissions."""

    class Meta:
        proxy = True
        verbose_name = "PDF file"
        verbose_name_plural = "PDF files (current eBook of each guide)"
