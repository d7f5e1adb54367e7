"""Results of a campaign, from what the project already stores: mail rows, ESP events, consent.

Per recipient (a CampaignRecipient with a mail), each outcome is a yes/no decided in SQL:
- sent: the mail's status is SENT (the ESP accepted it);
- delivered, bounced, complained, opened, clicked: the ESP reported that event for the mail
  (mailings' DeliveryEvent rows, from Anymail's tracking signal). A bounce is *hard* when the
  address is now on the suppression list for bouncing (mailings suppresses exactly the bounces
  the ESP treats as permanent), otherwise *soft*;
- unsubscribed: the ESP reported an unsubscribe for the mail, or the contact unsubscribed
  through our own link or one-click header (a consent-ledger row not written by staff) after
  this mail was sent and before any later campaign mail reached them (last touch: the link
  carries the subscription, not the mail).

The page's figures are one aggregate query over those expressions (`campaign_results`); the
CSV streams the same expressions per recipient (`campaign_outcomes_csv_lines`). Rates are per
mail sent, like the dashboard's complaint rate.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from campaigns.models import Campaign, CampaignRecipient
from contacts.exporting import csv_lines
from contacts.models import ConsentEvent
from mailings.models import DeliveryEvent, OutboundMail, Suppression

#: Complaint rate (in %) above which a campaign is flagged: the line Gmail and Yahoo ask bulk
#: senders to stay under (analytics.selectors.COMPLAINT_WARN draws the same line).
COMPLAINT_FLAG = 0.1
#: Rows per database round trip while streaming the CSV.
CHUNK_SIZE = 2000
#: Outcomes in display order: (key, label).
OUTCOMES = (
    ("delivered", "Delivered"),
    ("bounced_hard", "Hard bounces"),
    ("bounced_soft", "Soft bounces"),
    ("complained", "Spam complaints"),
    ("unsubscribed", "Unsubscribed"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
)
#: Outcomes only some ESPs report, and only with tracking on: shown as "not reported" at 0.
TRACKED = frozenset({"opened", "clicked"})
CSV_COLUMNS = ("email", "mail_status", "skip_reason", "sent_at", "delivery_status",
               *(key for key, _ in OUTCOMES))  # fmt: skip


def _event(*types: str) -> Exists:
    return Exists(DeliveryEvent.objects.filter(mail=OuterRef("mail"), event_type__in=types))


def _link_unsubscribe() -> Exists:
    later_mail = CampaignRecipient.objects.filter(
        contact=OuterRef(OuterRef("contact")),
        mail__sent_at__gt=OuterRef(OuterRef("mail__sent_at")),
        mail__sent_at__lte=OuterRef("occurred_at"),
    )
    return Exists(
        ConsentEvent.objects.filter(
            contact=OuterRef("contact"),
            event=ConsentEvent.Event.UNSUBSCRIBE,
            occurred_at__gte=OuterRef("mail__sent_at"),
        )
        .exclude(detail__startswith="admin ")  # contacts.admin's actor: staff, not the reader
        .exclude(Exists(later_mail))
    )


def _outcomes(queryset: QuerySet[CampaignRecipient]) -> QuerySet[CampaignRecipient]:
    """`queryset` annotated with one boolean per outcome (see the module docstring)."""
    hard = Exists(
        Suppression.objects.filter(
            email_hash=OuterRef("contact__email_hash"), reason=Suppression.Reason.BOUNCED
        )
    )
    return queryset.annotate(
        o_sent=Q(mail__status=OutboundMail.Status.SENT),
        o_delivered=_event("delivered"),
        o_bounced=_event("bounced"),
        o_hard=hard,
        o_complained=_event("complained"),
        o_unsubscribed=_event("unsubscribed") | _link_unsubscribe(),
        o_opened=_event("opened"),
        o_clicked=_event("clicked"),
    )


def _recipients(campaign_id: int) -> QuerySet[CampaignRecipient]:
    return CampaignRecipient.objects.filter(campaign_id=campaign_id, mail__isnull=False)


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    count: int
    #: Per mail sent, in %; None while nothing was sent.
    rate: float | None
    #: False for opens and clicks when no recipient has one (tracking off or not reported).
    reported: bool = True


@dataclass(frozen=True)
class CampaignResults:
    #: Recipients with a mail (erased contacts are gone with their rows).
    mails: int
    sent: int
    outcomes: tuple[Outcome, ...]

    @property
    def by_key(self) -> dict[str, Outcome]:
        return {o.key: o for o in self.outcomes}

    @property
    def complaint_rate(self) -> float | None:
        return self.by_key["complained"].rate

    @property
    def complaint_flagged(self) -> bool:
        rate = self.complaint_rate
        return rate is not None and rate > COMPLAINT_FLAG


def _rate(count: int, sent: int) -> float | None:
    return 100.0 * count / sent if sent else None


def campaign_results(*, campaign_id: int) -> CampaignResults:
    """The campaign's outcome counts and rates: one aggregate query, whatever its size."""
    flags = {
        "sent": Q(o_sent=True),
        "delivered": Q(o_delivered=True),
        "bounced_hard": Q(o_bounced=True, o_hard=True),
        "bounced_soft": Q(o_bounced=True, o_hard=False),
        "complained": Q(o_complained=True),
        "unsubscribed": Q(o_unsubscribed=True),
        "opened": Q(o_opened=True),
        "clicked": Q(o_clicked=True),
    }
    counts = _outcomes(_recipients(campaign_id)).aggregate(
        mails=Count("pk"), **{key: Count("pk", filter=q) for key, q in flags.items()}
    )
    sent = counts["sent"]
    outcomes = tuple(
        Outcome(
            key,
            label,
            counts[key],
            _rate(counts[key], sent),
            reported=key not in TRACKED or counts[key] > 0,
        )
        for key, label in OUTCOMES
    )
    return CampaignResults(mails=counts["mails"], sent=sent, outcomes=outcomes)


def _csv_row(row: tuple[Any, ...]) -> list[Any]:
    email, status, reason, sent_at, delivery, delivered, bounced, hard, *rest = row
    bounce_hard, bounce_soft = bounced and hard, bounced and not hard
    flags = [delivered, bounce_hard, bounce_soft, *rest]
    return [email, status, reason, sent_at, delivery, *("yes" if f else "" for f in flags)]


def campaign_outcomes_csv_lines(*, campaign_id: int) -> Iterator[str]:
    """Per-recipient outcomes as CSV lines (formula-safe, contacts.exporting), streamed in
    chunks of CHUNK_SIZE rows. The only personal data is the address, as in the contacts
    export; the caller checks the export permission."""
    rows = (
        _outcomes(_recipients(campaign_id))
        .order_by("pk")
        .values_list(
            "contact__email",
            "mail__status",
            "mail__skip_reason",
            "mail__sent_at",
            "mail__delivery_status",
            "o_delivered",
            "o_bounced",
            "o_hard",
            "o_complained",
            "o_unsubscribed",
            "o_opened",
            "o_clicked",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return csv_lines(CSV_COLUMNS, (_csv_row(row) for row in rows))


@dataclass(frozen=True)
class FlaggedCampaign:
    pk: int
    subject: str
    sent: int
    complaints: int
    rate: float


def campaigns_complaint_flagged(*, since: datetime) -> list[FlaggedCampaign]:
    """Campaigns started since `since` whose complaint rate is above COMPLAINT_FLAG, worst
    first: one grouped query (the dashboard's list)."""
    mail_sent = Q(recipients__mail__status=OutboundMail.Status.SENT)
    complained = Exists(
        DeliveryEvent.objects.filter(mail=OuterRef("recipients__mail"), event_type="complained")
    )
    rows = (
        Campaign.objects.filter(send_started_at__gte=since)
        .annotate(
            n_sent=Count("recipients", filter=mail_sent),
            n_complained=Count("recipients", filter=Q(complained)),
        )
        .filter(n_complained__gt=0)
        .values_list("pk", "subject", "n_sent", "n_complained")
    )
    flagged = [
        FlaggedCampaign(pk, subject, sent, complaints, 100.0 * complaints / sent)
        for pk, subject, sent, complaints in rows
        if sent and 100.0 * complaints / sent > COMPLAINT_FLAG
    ]
    return sorted(flagged, key=lambda c: -c.rate)
