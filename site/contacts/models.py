"""Contacts, their newsletter subscription, and the append-only consent ledger.

A Contact is one normalized address (core.emailaddr.normalize_email), unique case-insensitively.
Its `email_hash` is mailings.models.email_hash(email), so it joins with mailings' Suppression
(which is keyed by that hash to survive erasure). Rows are written by contacts.services only.
"""

from typing import Any, NoReturn

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.emailaddr import inbox_hash
from core.models import AttributionFields
from mailings.models import email_hash


class Tag(models.Model):
    """A marketer's label on contacts ("webinar-2026", "customer"). Names are unique
    case-insensitively and never contain "," or "|" (the separators of a CSV tags cell)."""

    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_ci_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    email = models.EmailField(max_length=254)
    #: mailings.models.email_hash(email): sha256 of the lower-cased address.
    email_hash = models.CharField(max_length=64, unique=True, editable=False)
    #: core.emailaddr.inbox_hash(email): shared by all +tag variants (per-inbox limits).
    inbox_hash = models.CharField(max_length=64, db_index=True, editable=False, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="contact_email_ci_unique")]
        ordering = ["-created_at"]
        permissions = [
            ("export_contact", "Can export contacts as CSV"),
            ("import_contact", "Can import contacts from CSV"),
            ("tag_contact", "Can add and remove tags on contacts"),
            ("gdpr_export_contact", "Can download everything held on a contact (GDPR)"),
            ("erase_contact", "Can erase a contact's personal data (GDPR)"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.inbox_hash:
            self.inbox_hash = inbox_hash(self.email)
        super().save(*args, **kwargs)

    @classmethod
    def for_address(cls, email: str, **fields: Any) -> "Contact":
        """An unsaved contact for a normalized address, with both of its hashes set (for
        bulk_create, which skips save())."""
        digests = {"email_hash": email_hash(email), "inbox_hash": inbox_hash(email)}
        return cls(email=email, **digests, **fields)


class Subscription(AttributionFields):
    """The contact's newsletter subscription (one per contact), with its attribution.

    pending -> confirmed -> unsubscribed; bounced/complained/suppressed are blocks that only
    an explicit admin action lifts. `token_generation` is signed into confirmation links and
    bumped on unsubscribe, so an old link can never subscribe anyone again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"
        SUPPRESSED = "suppressed", "Suppressed by an admin"

    #: States that signup, confirm and unsubscribe never leave; only an admin lifts them.
    BLOCKED = frozenset({Status.BOUNCED, Status.COMPLAINED, Status.SUPPRESSED})

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="subscription")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    token_generation = models.PositiveIntegerField(default=1)
    #: Last signup request (first one or a repeat): retention counts from here.
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    #: The per-address cooldown for confirmation mails is checked against this, under lock.
    last_confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Attribution: where the (latest) signup came from.
    guide_slug = models.CharField(max_length=100, blank=True)
    # ... and the rest of the attribution columns come from core.models.AttributionFields.

    class Meta:
        indexes = [
            models.Index(fields=["status", "requested_at"], name="subscription_status_req"),
            models.Index(fields=["guide_slug", "chapter_number"], name="subscription_source"),
            # The admin's form filter (a loose index scan) and the funnel's per-form counts.
            models.Index(fields=["form_name"], name="subscription_form"),
            # The per-inbox cooldown looks at recent confirmation mails across +tag variants:
            # this index keeps that to the last few minutes' rows however large the list grows.
            models.Index(fields=["last_confirmation_sent_at"], name="subscription_last_confirm"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_status_display()})"

    @property
    def is_blocked(self) -> bool:
        return self.status in self.BLOCKED


class ConsentEventQuerySet(models.QuerySet["ConsentEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("the consent ledger is append-only")

    def delete(self) -> NoReturn:
        raise TypeError("the consent ledger is append-only (rows go only with their contact)")


class ConsentEvent(models.Model):
    """One line of the append-only consent ledger: who, when, how, and what they were told.

    Rows are inserted, never updated; they are deleted only together with their contact
    (retention of unconfirmed signups, erasure).
    """

    class Event(models.TextChoices):
        SIGNUP = "signup", "Signed up"
        CONFIRM = "confirm", "Confirmed"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        IMPORT = "import", "Imported"
        ADMIN = "admin", "Admin action"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events")
    event = models.CharField(max_length=20, choices=Event.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    form_name = models.CharField(max_length=40, blank=True)
    page_path = models.CharField(max_length=500, blank=True)
    consent_version = models.CharField(max_length=20, blank=True)
    #: sha256 (hex) of the exact consent text shown (contacts.consent).
    consent_text_sha256 = models.CharField(max_length=64, blank=True)
    #: How it happened (one-click, page, admin user and action...).
    detail = models.CharField(max_length=200, blank=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "pk"]
        indexes = [models.Index(fields=["contact", "occurred_at"], name="consent_contact_time")]

    def __str__(self) -> str:
        return f"{self.get_event_display()} at {self.occurred_at:%Y-%m-%d %H:%M} UTC"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("the consent ledger is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the consent ledger is append-only (rows go only with their contact)")


class Segment(models.Model):
    """A saved audience: contacts matching every set criterion (contacts.segments).

    Empty criteria match everything. The signup date is the subscription's first request
    (Subscription.created_at), in UTC days, both ends included.
    """

    class TagMatch(models.TextChoices):
        ANY = "any", "Any of the tags"
        ALL = "all", "All of the tags"

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    #: Subscription status; blank matches any contact, with or without a subscription.
    status = models.CharField(
        max_length=20,
        choices=Subscription.Status.choices,
        blank=True,
        default=Subscription.Status.CONFIRMED,
        help_text="Confirmed subscribers are the only ones a campaign may mail.",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="segments")
    tag_match = models.CharField(max_length=3, choices=TagMatch.choices, default=TagMatch.ANY)
    guide_slug = models.CharField("signup guide", max_length=100, blank=True)
    chapter_number = models.PositiveSmallIntegerField("signup chapter", null=True, blank=True)
    signed_up_from = models.DateField(null=True, blank=True)
    signed_up_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_up_from__isnull=True)
                | models.Q(signed_up_to__isnull=True)
                | models.Q(signed_up_from__lte=models.F("signed_up_to")),
                name="segment_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return self.name
