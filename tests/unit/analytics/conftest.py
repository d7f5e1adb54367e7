"""Builders for analytics tests: page views, signups and eBook requests on known pages."""

import datetime as dt

from django.apps import apps
from django.utils import timezone

import pytest

from analytics.models import PageViewDaily
from contacts.models import Contact, Subscription
from mailings.models import email_hash

GUIDE = "modern-product-management"
OTHER = "product-discovery"
SAME_SITE = {"HTTP_ORIGIN": "http://testserver"}


def views(guide: str, chapter: int, count: int, *, day: dt.date | None = None) -> None:
    PageViewDaily.objects.create(
        date=day or timezone.now().date(), guide_slug=guide, chapter_number=chapter, count=count
    )


def signup(
    email: str,
    *,
    guide: str = GUIDE,
    chapter: int | None = 5,
    form: str = "inline",
    confirmed: bool = False,
    when: dt.datetime | None = None,
    status: str | None = None,
) -> Subscription:
    """A subscription row with the given attribution (the funnel reads only these fields)."""
    when = when or timezone.now()
    contact = Contact.objects.create(email=email, email_hash=email_hash(email), created_at=when)
    return Subscription.objects.create(
        contact=contact,
        status=status or ("confirmed" if confirmed else "pending"),
        created_at=when,
        requested_at=when,
        confirmed_at=when if confirmed else None,
        guide_slug=guide,
        chapter_number=chapter,
        form_name=form,
    )


def ebook_model():
    return apps.get_model("ebooks", "EbookRequest")


def ebook_request(email: str, *, guide: str = GUIDE, chapter: int | None = 5, form: str = "pdf"):
    model = ebook_model()
    contact = Contact.objects.filter(email_hash=email_hash(email)).first() or (
        Contact.objects.create(email=email, email_hash=email_hash(email))
    )
    return model.objects.create(
        contact=contact, guide_slug=guide, chapter_number=chapter, form_name=form
    )


@pytest.fixture
def funnel_fixture():
    """A known week of one guide:

    chapter 5: 1,000 views; 3 inline signups (2 confirmed); 1 PDF-form opt-in (confirmed);
               4 eBook requests from the PDF form
    chapter 6:   500 views; 1 inline signup (not confirmed)
    guide page:  200 views; 1 signup from the guide page box (confirmed)
    home page:   300 views; 1 home-box signup (carrying the first guide's slug, confirmed)
    other guide, chapter 1: 100 views, nothing else
    + an import and a 40-day-old signup, which the 30-day funnel leaves out.
    """
    views(GUIDE, 5, 600)
    views(GUIDE, 5, 400, day=timezone.now().date() - dt.timedelta(days=3))
    views(GUIDE, 6, 500)
    views(GUIDE, 0, 200)
    views("", 0, 300)
    views(OTHER, 1, 100)
    views(GUIDE, 5, 9999, day=timezone.now().date() - dt.timedelta(days=45))
    signup("a1@example.com", confirmed=True)
    signup("a2@example.com", confirmed=True)
    signup("a3@example.com")
    signup("p1@example.com", form="pdf", confirmed=True)
    signup("b1@example.com", chapter=6)
    signup("g1@example.com", chapter=None, form="guide", confirmed=True)
    signup("h1@example.com", chapter=None, form="home", confirmed=True)
    signup("i1@example.com", guide="", chapter=None, form="import", confirmed=True)
    signup("old@example.com", when=timezone.now() - dt.timedelta(days=40), confirmed=True)
    for i in range(4):
        ebook_request(f"e{i}@example.com")
