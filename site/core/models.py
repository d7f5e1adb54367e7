"""Cross-cutting records. `AuditEntry`: who did what sensitive thing in the admin, and when.

Entries are written by core.audit.audit_record only, and never changed afterwards. They hold
ids and counts, not personal data: an erased contact must not live on in the audit log.
"""

from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("the audit log is append-only")


class AuditEntry(models.Model):
    """One sensitive action: an export, an import, a GDPR export or erase, a deletion...

    `actor_name` keeps the username when the user is deleted later (the FK becomes NULL).
    `action` is free text with the common values below, so other apps can add their own.
    """

    class Action(models.TextChoices):
        EXPORT = "export", "CSV export"
        IMPORT = "import", "CSV import"
        GDPR_EXPORT = "gdpr_export", "GDPR export"
        GDPR_ERASE = "gdpr_erase", "GDPR erase"
        DELETE = "delete", "Deletion"
        TAG = "tag", "Bulk tagging"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField("actor", max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    #: What it was done to, without personal data ("contact #42", "contacts (filtered)").
    object_repr = models.CharField("object", max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["-created_at"], name="audit_created"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created"),
        ]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.get_action_display()} by {who} at {self.created_at:%Y-%m-%d %H:%M} UTC"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("the audit log is append-only")
        super().save(*args, **kwargs)


class AttributionFields(models.Model):
    """Where a signup or a PDF request came from (core.attribution.Source.model_fields()).

    Abstract: contacts.Subscription and ebooks.EbookRequest each carry these columns beside
    their own guide field.
    """

    chapter_number = models.PositiveSmallIntegerField("chapter", null=True, blank=True)
    form_name = models.CharField("form", max_length=40, blank=True)
    page_path = models.CharField(max_length=500, blank=True)
    #: The external page the visitor came from, without its query string.
    referrer = models.CharField(max_length=500, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)

    class Meta:
        abstract = True


class FormSubmission(models.Model):
    """An accepted public form (newsletter signup, "Get the PDF") waiting for a worker.

    The request that accepts a form stores this one row (core.intake.submission_accept) and
    publishes its task after commit; the worker acts on it and deletes it in one transaction.
    So the visitor's answer costs one INSERT, and nothing accepted lives only in Redis. The
    row holds the address and the IP only until then: see docs/decisions/0007.
    """

    #: Which handler acts on it (registered by the owning app, see core.intake).
    kind = models.CharField(max_length=40)
    email = models.CharField(max_length=254)
    #: What the handler needs: consent version, attribution, IP, user agent... (JSON).
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(default=timezone.now)
    #: Last time its task was published (the sweeper's clock).
    enqueued_at = models.DateTimeField(default=timezone.now)
    #: Failed attempts; the sweeper gives up at SUBMISSION_MAX_ATTEMPTS (visible in the admin).
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["received_at"]
        indexes = [models.Index(fields=["enqueued_at"], name="formsub_enqueued")]
        verbose_name = "waiting form submission"

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} received {self.received_at:%Y-%m-%d %H:%M} UTC"


class Heartbeat(models.Model):
    """The last time a background process kind showed it was alive (core.liveness).

    One row per kind ("worker:default", "worker:mail", "worker:pdf"), upserted by a beat
    entry's task on that queue, so a fresh row proves beat published it and a worker on the
    queue consumed it. In the database, not Redis: an emptied broker must not erase the record.
    """

    name = models.CharField(max_length=40, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S} UTC"
