"""Reads: who a campaign mails, how its mails fared, and its rendered content (cached per
content version)."""

from collections import OrderedDict
from threading import Lock

from django.db.models import Count, QuerySet

from campaigns.models import Campaign, CampaignRecipient
from campaigns.rendering import CampaignContent, content_render
from contacts.models import Contact, Subscription
from contacts.segments import segment_contacts
from mailings.models import OutboundMail, Suppression

#: Rendered campaigns kept per process (a worker sends one or two issues at a time).
_CACHE_SIZE = 16
_cache: OrderedDict[tuple[int, str], CampaignContent] = OrderedDict()
_cache_lock = Lock()


def campaign_audience(*, campaign: Campaign) -> QuerySet[Contact]:
    """Exactly who the campaign may mail now, ordered by contact id.

    Confirmed subscribers whose address is not suppressed, narrowed to the segment when the
    audience is one: the confirmed/suppression rule holds whatever the segment's own status.
    """
    if campaign.audience == Campaign.Audience.SEGMENT and campaign.segment is not None:
        contacts = segment_contacts(campaign.segment)
    else:
        contacts = Contact.objects.all()
    suppressed = Suppression.objects.values("email_hash")
    return (
        contacts.filter(subscription__status=Subscription.Status.CONFIRMED)
        .exclude(email_hash__in=suppressed)
        .order_by("pk")
    )


def campaign_audience_count(*, campaign: Campaign) -> int:
    return campaign_audience(campaign=campaign).count()


def campaign_mail_counts(*, campaign_id: int) -> dict[str, int]:
    """How many of the campaign's mails are in each status, and skipped ones per reason
    (keys "skipped:<reason>"); one aggregate query. An erased recipient's row is gone with
    its contact, so it is not counted."""
    rows = (
        CampaignRecipient.objects.filter(campaign_id=campaign_id, mail__isnull=False)
        .values_list("mail__status", "mail__skip_reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = dict.fromkeys(OutboundMail.Status.values, 0)
    for status, reason, n in rows:
        counts[status] += n
        if status == OutboundMail.Status.SKIPPED:
            counts[f"skipped:{reason}"] = n
    return counts


def campaign_content(*, campaign_id: int, version: str = "") -> CampaignContent:
    """The rendered subject, preheader and body of a campaign (one query on a cache miss).

    Cached under (id, version): a campaign being sent is frozen, so its version never
    changes; a draft edited between two test sends gets a new version, hence a fresh render.
    Raises Campaign.DoesNotExist for a deleted campaign (its mail then fails permanently).
    """
    key = (campaign_id, version)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    campaign = Campaign.objects.only("subject", "preheader", "body").get(pk=campaign_id)
    content = content_render(
        subject=campaign.subject, preheader=campaign.preheader, body=campaign.body
    )
    with _cache_lock:
        _cache[key] = content
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return content
