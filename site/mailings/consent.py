"""Consent at the moment of sending: mailings asks, the app that owns consent answers.

Every MARKETING mail is checked right before it is sent (`mail_send`, after the claim): a
recipient who unsubscribed, was suppressed or erased, or never confirmed, gets nothing and
the row ends SKIPPED with the reason. mailings knows no app: contacts registers its check in
`ContactsConfig.ready()` (as core.intake's handlers). With no check registered a marketing
mail is skipped ("no consent check"), never sent.

Withdrawing consent also cancels the address's QUEUED marketing mails at once
(`marketing_mails_cancel`, in the caller's transaction); a mail already claimed by a worker
is stopped by the check at send time instead.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from django.db.models.functions import Lower
from django.db.models.lookups import In

from mailings.models import OutboundMail


class MarketingGate(Protocol):
    """Answers, in one query, which addresses may get marketing mail now.

    Returns a mapping of every given address to None (consent holds) or an
    OutboundMail.SkipReason value. For marketing mail the gate replaces mailings' own
    suppression check, so it must refuse suppressed addresses too.
    """

    def __call__(self, *, emails: Sequence[str]) -> Mapping[str, str | None]: ...


_gate: MarketingGate | None = None


def marketing_gate_register(gate: MarketingGate) -> None:
    """Make `gate` the consent check of every marketing mail (the app's `ready()` calls it)."""
    global _gate  # a registry of one, filled once at startup
    _gate = gate


def marketing_consent_check(*, emails: Sequence[str]) -> dict[str, str | None]:
    """Why each address may not get marketing mail now (None: it may). Fails closed.

    No registered gate, or an address the gate leaves out, is refused ("no consent check").
    """
    refused = OutboundMail.SkipReason.NO_CONSENT_CHECK
    answers = _gate(emails=emails) if _gate is not None else {}
    return {email: answers.get(email, refused) for email in emails}


def marketing_mails_cancel(*, emails: Iterable[str], reason: str) -> int:
    """Skip every QUEUED marketing mail to these addresses (in any case); return how many.

    Call it inside the transaction that withdraws consent (unsubscribe, suppression,
    erasure), before anything changes the rows' addresses. Rows a worker has already claimed
    (SENDING) are stopped by the check at send time; the send tasks of cancelled rows stay
    published and find nothing to do. One UPDATE on the partial index of queued rows.
    """
    addresses = {email.strip().lower() for email in emails}
    if not addresses:
        return 0
    return (
        OutboundMail.objects.filter(In(Lower("to_email"), sorted(addresses)))
        .filter(status=OutboundMail.Status.QUEUED, category=OutboundMail.Category.MARKETING)
        .update(status=OutboundMail.Status.SKIPPED, skip_reason=reason)
    )
