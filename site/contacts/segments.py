"""Tags on contacts (bulk add/remove) and saved segments, as querysets for campaigns."""

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from contacts.models import Contact, Segment, Subscription, Tag
from mailings.models import Suppression

#: Contacts per INSERT when tagging a large selection.
TAG_BATCH = 5000


def segment_contacts(segment: Segment) -> QuerySet[Contact]:
    """The contacts matching every criterion of `segment`, ordered by id (no duplicates).

    With status "confirmed" the addresses on mailings' suppression list are left out too, so
    the result is exactly who a campaign may mail. Tags match any or all of the segment's
    tags (EXISTS subqueries, no DISTINCT). Costs one query for the tag ids, then lazy.
    """
    contacts = Contact.objects.all()
    if segment.status:
        contacts = contacts.filter(subscription__status=segment.status)
        if segment.status == Subscription.Status.CONFIRMED:
            contacts = contacts.exclude(email_hash__in=Suppression.objects.values("email_hash"))
    tag_ids = list(segment.tags.values_list("pk", flat=True)) if segment.pk else []
    if tag_ids:
        through = Contact.tags.through.objects.filter(contact_id=OuterRef("pk"))
        if segment.tag_match == Segment.TagMatch.ALL:
            for tag_id in tag_ids:
                contacts = contacts.filter(Exists(through.filter(tag_id=tag_id)))
        else:
            contacts = contacts.filter(Exists(through.filter(tag_id__in=tag_ids)))
    if segment.guide_slug:
        contacts = contacts.filter(subscription__guide_slug=segment.guide_slug)
    if segment.chapter_number:
        contacts = contacts.filter(subscription__chapter_number=segment.chapter_number)
    if segment.signed_up_from:
        start = dt.datetime.combine(segment.signed_up_from, dt.time.min, tzinfo=dt.UTC)
        contacts = contacts.filter(subscription__created_at__gte=start)
    if segment.signed_up_to:
        end = dt.datetime.combine(segment.signed_up_to, dt.time.min, tzinfo=dt.UTC)
        contacts = contacts.filter(subscription__created_at__lt=end + dt.timedelta(days=1))
    return contacts.order_by("pk")


def segment_count(segment: Segment) -> int:
    return segment_contacts(segment).count()


def tag_get_or_create(*, name: str) -> Tag:
    """The tag called `name` (case-insensitively), created if missing."""
    name = " ".join(name.split())
    existing = Tag.objects.filter(name__iexact=name).first()
    if existing is not None:
        return existing
    Tag.objects.bulk_create([Tag(name=name)], ignore_conflicts=True)
    return Tag.objects.get(name__iexact=name)


@transaction.atomic
def contacts_tag_add(*, contacts: QuerySet[Contact], tag: Tag) -> int:
    """Tag every contact of the queryset (already tagged ones are left alone); returns the
    number of contacts newly tagged."""
    through = Contact.tags.through
    already = through.objects.filter(tag=tag, contact_id=OuterRef("pk"))
    ids = contacts.order_by().exclude(Exists(already)).values_list("pk", flat=True)
    added = 0
    batch: list[int] = []
    for contact_id in ids.iterator(chunk_size=TAG_BATCH):
        batch.append(contact_id)
        if len(batch) == TAG_BATCH:
            through.objects.bulk_create(
                [through(contact_id=i, tag=tag) for i in batch], ignore_conflicts=True
            )
            added, batch = added + len(batch), []
    if batch:
        through.objects.bulk_create(
            [through(contact_id=i, tag=tag) for i in batch], ignore_conflicts=True
        )
        added += len(batch)
    return added


@transaction.atomic
def contacts_tag_remove(*, contacts: QuerySet[Contact], tag: Tag) -> int:
    """Remove the tag from every contact of the queryset; returns the links removed."""
    through = Contact.tags.through
    deleted, _ = through.objects.filter(
        tag=tag, contact_id__in=contacts.order_by().values("pk")
    ).delete()
    return deleted
