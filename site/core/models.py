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
