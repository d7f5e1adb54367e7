"""GDPR requests: everything we hold on one contact (Art. 15 and 20), and erasure (Art. 17).

Erasure deletes the contact and everything hanging off it (subscription, consent ledger,
tags, eBook requests and downloads), blanks the address out of the mail log, and keeps only
the hash of the address on mailings' suppression list (reason "erased"), so that the
address is never mailed again: a later signup or "Get the PDF" with it stores and sends
nothing. Both are written to the audit log (core.audit) with ids and counts only.
"""

import datetime as dt
from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from contacts.models import ConsentEvent, Contact, Subscription
from core.audit import audit_record
from core.models import AuditEntry, FormSubmission
from mailings.consent import marketing_mails_cancel
from mailings.models import DeliveryEvent, OutboundMail, Suppression, email_hash
from mailings.services import suppression_add

#: Mail context values that are signed links: working credentials, not data about a person.
_LINK_KEYS = ("url", "link", "token")


def _fields(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The concrete fields of a row, as JSON-ready values (FKs as ids)."""
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.name in exclude:
            continue
        value = getattr(obj, f.attname)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        data[f.attname] = value
    return data


def _context(context: Any) -> Any:
    if not isinstance(context, dict):
        return context
    return {
        key: "(signed link omitted)" if any(k in key.lower() for k in _LINK_KEYS) else value
        for key, value in context.items()
    }


def _ebook_models() -> tuple[Any, Any]:
    try:
        return apps.get_model("ebooks", "EbookRequest"), apps.get_model("ebooks", "EbookDownload")
    except LookupError:
        return None, None


def contact_data_collect(*, contact: Contact) -> dict[str, Any]:
    """Every record about `contact` as a JSON-ready dict (no audit entry: see the export)."""
    sub = Subscription.objects.filter(contact=contact).first()
    mails = list(OutboundMail.objects.filter(to_email__iexact=contact.email).order_by("pk"))
    events_by_mail: dict[int, list[dict[str, Any]]] = {}
    for event in DeliveryEvent.objects.filter(mail__in=mails).order_by("pk"):
        events_by_mail.setdefault(event.mail_id, []).append(_fields(event, exclude=("id", "mail")))
    suppression = Suppression.objects.filter(email_hash=email_hash(contact.email)).first()
    data: dict[str, Any] = {
        "generated_at": timezone.now().isoformat(),
        "contact": {
            **_fields(contact),
            "tags": sorted(contact.tags.values_list("name", flat=True)),
        },
        "subscription": _fields(sub) if sub else None,
        "consent_events": [_fields(e) for e in ConsentEvent.objects.filter(contact=contact)],
        "mails": [
            {
                **_fields(m, exclude=("context", "unsubscribe_url")),
                "context": _context(m.context),
                "delivery_events": events_by_mail.get(m.pk, []),
            }
            for m in mails
        ],
        "suppression": (
            {"reason": suppression.reason, "created_at": suppression.created_at.isoformat()}
            if suppression
            else None
        ),
    }
    request_model, download_model = _ebook_models()
    if request_model is not None:
        requests = list(request_model._default_manager.filter(contact=contact).order_by("pk"))
        downloads: dict[int, list[dict[str, Any]]] = {}
        if download_model is not None:
            for d in download_model._default_manager.filter(request__in=requests).order_by("pk"):
                downloads.setdefault(d.request_id, []).append(_fields(d, exclude=("request",)))
        data["ebook_requests"] = [
            {**_fields(r), "downloads": downloads.get(r.pk, [])} for r in requests
        ]
    return data


@transaction.atomic(durable=True)
def contact_data_export(*, contact_id: int, actor: Any) -> dict[str, Any]:
    """Everything held on the contact, for its holder; audit-logged (ids only)."""
    contact = Contact.objects.get(pk=contact_id)
    data = contact_data_collect(contact=contact)
    audit_record(
        actor=actor,
        action=AuditEntry.Action.GDPR_EXPORT,
        object_repr=f"contact #{contact_id}",
        detail={
            "contact_id": contact_id,
            "mails": len(data["mails"]),
            "consent_events": len(data["consent_events"]),
        },
    )
    return data


def contact_erase_summary(*, contact: Contact) -> dict[str, int]:
    """What an erase would remove (for the confirmation page)."""
    summary = {
        "consent_events": ConsentEvent.objects.filter(contact=contact).count(),
        "mails": OutboundMail.objects.filter(to_email__iexact=contact.email).count(),
        "tags": contact.tags.count(),
    }
    request_model, _ = _ebook_models()
    if request_model is not None:
        summary["ebook_requests"] = request_model._default_manager.filter(contact=contact).count()
    return summary


@transaction.atomic(durable=True)
def contact_erase(*, contact_id: int, actor: Any) -> dict[str, Any]:
    """Erase the contact's personal data and suppress the address for good (by hash).

    Idempotent in effect: a second call finds no contact and raises Contact.DoesNotExist.
    Mails still waiting to be sent to the address are cancelled: marketing ones end skipped
    ("erased"), transactional ones suppressed; a marketing mail a worker has already claimed
    finds no contact at mailings' consent check. Sent ones stay in the log without the
    address, their context or their error text.
    """
    contact = Contact.objects.select_for_update().get(pk=contact_id)
    address = contact.email
    suppression = suppression_add(
        email=address, reason=Suppression.Reason.ERASED, detail="GDPR erasure"
    )
    mails = OutboundMail.objects.filter(to_email__iexact=address)
    cancelled = marketing_mails_cancel(emails=[address], reason=OutboundMail.SkipReason.ERASED)
    cancelled += mails.filter(status=OutboundMail.Status.QUEUED).update(
        status=OutboundMail.Status.SUPPRESSED
    )
    blanked = mails.update(to_email="", context={}, unsubscribe_url="", last_error="")
    # Forms from this address not yet acted on by a worker (they hold its IP too).
    waiting, _ = FormSubmission.objects.filter(email__iexact=address).delete()
    # The admin's own history shows str(contact), i.e. the address.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact_id)
    ).update(object_repr=f"erased contact #{contact_id}", change_message="")
    _, deleted = contact.delete()
    detail = {
        "contact_id": contact_id,
        "suppression_reason": suppression.reason,
        "mails_blanked": blanked,
        "mails_cancelled": cancelled,
        "form_submissions_deleted": waiting,
        "deleted": {label: n for label, n in deleted.items() if n},
    }
    audit_record(
        actor=actor,
        action=AuditEntry.Action.GDPR_ERASE,
        object_repr=f"contact #{contact_id}",
        detail=detail,
    )
    return detail
