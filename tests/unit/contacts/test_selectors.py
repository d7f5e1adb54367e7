"""The "Join N+" label: exact, then a floor; excludes suppressed; cached; no query when warm."""

from django.core.cache import cache
from django.template import Context, Template
from django.urls import reverse

import pytest

from contacts import selectors, services
from contacts.models import Subscription
from guides.content import get_library
from mailings.services import suppression_add
from tests.unit.contacts.conftest import make_subscription


@pytest.mark.parametrize(
    ("count", "label"),
    [
        (0, ""), (1, "1"), (42, "42"), (99, "99"), (100, "100+"), (149, "100+"), (150, "150+"),
        (260, "250+"), (999, "900+"), (1_000, "1,000+"), (1_499, "1,000+"), (1_999, "1,500+"),
        (6_432, "6,000+"), (12_345, "10,000+"), (27_000, "25,000+"), (1_234_567, "1,000,000+"),
    ],
)  # fmt: skip
def test_count_label_is_exact_below_100_then_a_round_floor(count, label):
    assert selectors.count_label(count) == label


def test_floor_never_exceeds_the_count_and_never_drops_as_it_grows():
    floors = [int(selectors.count_label(n).rstrip("+").replace(",", "")) for n in range(1, 30_000)]
    assert all(floor <= n for n, floor in enumerate(floors, start=1))
    assert floors == sorted(floors)


@pytest.mark.django_db
def test_only_confirmed_unsuppressed_subscribers_count():
    make_subscription("a@example.com", "confirmed")
    make_subscription("b@example.com", "confirmed")
    make_subscription("c@example.com", "confirmed")
    make_subscription("pending@example.com")
    make_subscription("gone@example.com", "unsubscribed")
    suppression_add(email="c@example.com", reason="bounced")  # not yet synced to the status
    assert selectors.subscriber_count_confirmed() == 2


@pytest.mark.django_db
def test_label_is_cached_so_a_second_call_costs_no_query(django_assert_num_queries):
    make_subscription("a@example.com", "confirmed")
    with django_assert_num_queries(1):
        assert selectors.subscriber_count_label() == "1"
    make_subscription("b@example.com", "confirmed")  # confirm drops the key only on commit
    cache.set(services.COUNT_LABEL_CACHE_KEY, "1", 60)
    with django_assert_num_queries(0):
        assert selectors.subscriber_count_label() == "1"
    cache.delete(services.COUNT_LABEL_CACHE_KEY)
    assert selectors.subscriber_count_label() == "2"


@pytest.mark.django_db
def test_label_survives_a_cache_outage_with_one_query_per_ttl(
    monkeypatch, django_assert_num_queries
):
    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    make_subscription("a@example.com", "confirmed")
    monkeypatch.setattr(selectors, "_fallback", None)
    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    with django_assert_num_queries(1):
        assert selectors.subscriber_count_label() == "1"
    with django_assert_num_queries(0):
        assert selectors.subscriber_count_label() == "1"


@pytest.mark.django_db
def test_label_is_a_page_fragment_version(settings):
    assert "contacts.selectors.subscriber_count_label" in settings.PAGE_FRAGMENT_VERSIONS


@pytest.mark.django_db
def test_warm_chapter_page_view_costs_no_query(client, django_assert_num_queries):
    make_subscription("a@example.com", "confirmed")
    url = reverse("guides:chapter", args=["modern-product-management", "roadmaps"])
    assert client.get(url).status_code == 200
    with django_assert_num_queries(0):
        assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_cached_pages_change_key_when_the_label_changes(client):
    from guides import pagecache

    request = client.get("/").wsgi_request
    make_subscription("a@example.com", "confirmed")
    cache.delete(services.COUNT_LABEL_CACHE_KEY)
    before = pagecache._key(request)
    make_subscription("b@example.com", "confirmed")
    cache.delete(services.COUNT_LABEL_CACHE_KEY)
    assert pagecache._key(request) != before


# -- The template tag --------------------------------------------------------------------------


def render_box(**context) -> str:
    template = Template(
        '{% load lead_capture %}{% signup_box guide=guide chapter=chapter form="inline" %}'
    )
    return template.render(Context(context))


@pytest.mark.django_db
def test_signup_box_renders_an_accessible_unticked_form_with_its_source(django_assert_num_queries):
    for i in range(3):
        make_subscription(f"r{i}@example.com", "confirmed")
    guide = get_library().guide("modern-product-management")
    chapter = guide.chapter("roadmaps")
    html = render_box(guide=guide, chapter=chapter)
    assert "Join 3 product leaders" in html
    assert guide.pitch in html
    assert '<label for="signup-inline-email">Email</label>' in html
    assert 'type="email" name="email" id="signup-inline-email"' in html
    assert 'type="checkbox" name="consent" id="signup-inline-consent"' in html
    assert " checked" not in html
    from contacts.consent import CONSENT_TEXTS, CURRENT_VERSION

    assert f'<label for="signup-inline-consent">{CONSENT_TEXTS[CURRENT_VERSION]}</label>' in html
    assert f'name="consent_version" value="{CURRENT_VERSION}"' in html
    assert 'name="guide" value="modern-product-management"' in html
    assert f'name="chapter" value="{chapter.number}"' in html
    assert 'name="source_form" value="inline"' in html
    assert 'action="/s/subscribe/"' in html
    assert 'src="/static/js/signup.js" defer' in html
    assert "<div hidden>" in html  # the honeypot
    with django_assert_num_queries(0):  # the label is warm now
        render_box(guide=guide, chapter=chapter)


@pytest.mark.django_db
def test_signup_box_without_a_guide_uses_the_default_copy():
    html = render_box(guide=None, chapter=None)
    assert "Get the newsletter" in html  # nobody to count yet
    assert selectors.DEFAULT_PITCH in html
    assert 'name="guide" value=""' in html


@pytest.mark.django_db
def test_signup_box_stamp_is_valid_for_the_signup_form():
    import re
    import time

    from core.publicforms import form_stamp_problem

    stamp = re.search(r'name="stamp" value="([^"]+)"', render_box(guide=None, chapter=None))[1]
    five_seconds_later = time.time() + 5  # a clock value passed in, not a timing
    assert form_stamp_problem(stamp, "newsletter", now=five_seconds_later) is None


def test_subscription_status_choices_include_the_blocks():
    assert set(Subscription.BLOCKED) == {"bounced", "complained", "suppressed"}


# -- The consent check of marketing mail (mailings.consent gate) --------------------------------


@pytest.mark.django_db
def test_the_marketing_gate_answers_for_a_batch_in_one_query(django_assert_num_queries):
    for email, status in [
        ("ann@example.com", "confirmed"), ("pat@example.com", "pending"),
        ("una@example.com", "unsubscribed"), ("bea@example.com", "bounced"),
        ("sue@example.com", "suppressed"), ("sam@example.com", "confirmed"),
    ]:  # fmt: skip
        make_subscription(email, status)
    suppression_add(email="sam@example.com", reason="complained")  # confirmed, yet suppressed
    asked = ["ann@example.com", "Ann@Example.com", "pat@example.com", "una@example.com",
             "bea@example.com", "sue@example.com", "sam@example.com",
             "nobody@example.com"]  # fmt: skip

    with django_assert_num_queries(1):
        answers = selectors.marketing_refusals(emails=asked)

    assert answers == {
        "ann@example.com": None,
        "Ann@Example.com": None,  # one contact, whatever the case
        "pat@example.com": "not_confirmed",
        "una@example.com": "unsubscribed",
        "bea@example.com": "suppressed",
        "sue@example.com": "suppressed",
        "sam@example.com": "suppressed",
        "nobody@example.com": "erased",
    }
