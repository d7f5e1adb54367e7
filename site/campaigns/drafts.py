"""Working on a draft before it goes out: test sends to staff, and "duplicate campaign".

Both own their transaction and take keyword-only arguments, like campaigns.services (which
holds the sending rules); they change no campaign that exists, so they live apart from it.
"""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Lower

from campaigns.models import Campaign
from campaigns.services import TEMPLATE, campaign_draft_save, campaign_mail_context
from core.audit import audit_record
from core.exceptions import AppError
from mailings.models import OutboundMail
from mailings.services import outbound_mail_create

#: Addresses per test send: enough for a team's inboxes and seed accounts, not a list.
MAX_TEST_RECIPIENTS = 10


def staff_addresses_unknown(*, emails: Sequence[str]) -> list[str]:
    """The addresses in `emails` that belong to no active staff account (one query)."""
    staff = set(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .annotate(address=Lower("email"))
        .filter(address__in=[e.lower() for e in emails])
        .values_list("address", flat=True)
    )
    return [e for e in emails if e.lower() not in staff]


@transaction.atomic(durable=True)
def campaign_test_send(*, campaign: Campaign, to: Sequence[str], actor: Any) -> list[OutboundMail]:
    """Queue one copy of the campaign, subject marked [TEST], to each address in `to`.

    Each copy is a transactional mail (no consent check, no unsubscribe link) exactly as
    `campaign_send_test` queues one, so it may only go to staff: every address must be an
    active staff account's, at most MAX_TEST_RECIPIENTS of them. Suppression still applies.
    Raises AppError, naming the addresses, otherwise. Works in any status.
    """
    addresses = list(dict.fromkeys(e.strip() for e in to if e.strip()))
    if not addresses:
        raise AppError("Enter at least one address.")
    if len(addresses) > MAX_TEST_RECIPIENTS:
        raise AppError(f"At most {MAX_TEST_RECIPIENTS} addresses per test.")
    unknown = staff_addresses_unknown(emails=addresses)
    if unknown:
        raise AppError(
            "A test goes to staff only; no active staff account has " + ", ".join(unknown) + "."
        )
    context = campaign_mail_context(campaign=campaign, test=True)
    mails = [
        outbound_mail_create(
            to=address,
            template=TEMPLATE,
            context=context,
            category=OutboundMail.Category.TRANSACTIONAL,
        )
        for address in addresses
    ]
    audit_record(
        actor=actor, action="campaign_test_send", object_repr=str(campaign),
        detail={"campaign_id": campaign.pk, "recipients": len(mails),
                "version": campaign.content_version},
    )  # fmt: skip
    return mails


@transaction.atomic(durable=True)
def campaign_duplicate(*, campaign: Campaign, actor: Any) -> Campaign:
    """A new draft with the campaign's subject, preheader, body and audience (any status)."""
    copy = Campaign(
        subject=campaign.subject,
        preheader=campaign.preheader,
        body=campaign.body,
        audience=campaign.audience,
        segment_id=campaign.segment_id,
    )
    campaign_draft_save(campaign=copy, actor=actor)
    audit_record(
        actor=actor, action="campaign_duplicate", object_repr=str(copy),
        detail={"campaign_id": copy.pk, "from_campaign_id": campaign.pk},
    )  # fmt: skip
    return copy
