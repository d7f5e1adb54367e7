"""The cookieless page-view beacon: same-site only, no cookie, no IP, counts aggregate."""

import datetime as dt
import threading

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

import pytest

from analytics.models import PageViewDaily
from analytics.services import page_for_path, pageview_record
from tests.unit.analytics.conftest import GUIDE, SAME_SITE

pytestmark = pytest.mark.django_db

URL = "/s/pv/"
CHAPTER = f"/{GUIDE}/pm-vs-tpm/"  # chapter 12
IP = "203.0.113.77"


def beacon(client, path=CHAPTER, **headers):
    headers = {**SAME_SITE, "REMOTE_ADDR": IP, "HTTP_USER_AGENT": "Mozilla/5.0", **headers}
    return client.post(URL, data=path, content_type="text/plain;charset=UTF-8", **headers)


def test_counts_aggregate_per_day_and_page(client):
    for _ in range(3):
        assert beacon(client).status_code == 204
    beacon(client, f"/{GUIDE}/")
    beacon(client, "/")
    rows = {(r.guide_slug, r.chapter_number): r.count for r in PageViewDaily.objects.all()}
    assert rows == {(GUIDE, 12): 3, (GUIDE, 0): 1, ("", 0): 1}
    assert PageViewDaily.objects.get(guide_slug=GUIDE, chapter_number=12).date == (
        timezone.now().date()
    )


def test_cross_site_and_headerless_posts_are_refused(client):
    assert beacon(client, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert beacon(client, HTTP_ORIGIN="null").status_code == 403
    response = client.post(URL, data=CHAPTER, content_type="text/plain", REMOTE_ADDR=IP)
    assert response.status_code == 403  # no Origin and no Referer
    assert not PageViewDaily.objects.exists()
    # A same-site Referer is enough when a browser sends no Origin.
    response = client.post(
        URL, data=CHAPTER, content_type="text/plain", HTTP_REFERER=f"http://testserver{CHAPTER}"
    )
    assert response.status_code == 204


def test_no_cookie_is_set_and_none_is_needed(client):
    response = beacon(client)
    assert response.status_code == 204
    assert not response.cookies
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content == b""


def test_no_ip_is_stored_anywhere(client):
    beacon(client)
    row = PageViewDaily.objects.get()
    assert {f.name for f in PageViewDaily._meta.fields} == {
        "id",
        "date",
        "guide_slug",
        "chapter_number",
        "count",
    }
    assert IP not in repr(row.__dict__)
    # The rate limit keys a hash of the address in the cache, never the address itself.
    client_ = getattr(cache, "_cache", None)
    if client_ is not None and hasattr(client_, "get_client"):
        keys = [k.decode() for k in client_.get_client().keys("*")]
        assert keys
        assert not any(IP in key for key in keys)


def test_only_pages_of_the_content_index_count(client):
    for path in (
        "/admin/",
        f"/{GUIDE}/no-such-chapter/",
        "/nope/",
        f"/{GUIDE}/pm-vs-tpm/x/",
        "relative",
        "",
        "/" + "a" * 400,
        "/s/subscribe/",
    ):
        assert beacon(client, path).status_code == 204
    assert not PageViewDaily.objects.exists()


def test_page_for_path():
    assert page_for_path("/") == ("", 0)
    assert page_for_path(f"/{GUIDE}/") == (GUIDE, 0)
    assert page_for_path(f"/{GUIDE}") == (GUIDE, 0)
    assert page_for_path(f"/{GUIDE}/roadmaps/") == (GUIDE, 5)
    assert page_for_path(f"/{GUIDE}/roadmaps/?utm_source=x") is None
    assert page_for_path("/unknown/") is None
    assert page_for_path(None) is None  # type: ignore[arg-type]


def test_bots_are_not_counted(client):
    beacon(client, HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)")
    beacon(client, HTTP_USER_AGENT="Mozilla/5.0 HeadlessChrome/120.0")
    assert not PageViewDaily.objects.exists()


def test_rate_limited_per_ip(client, settings):
    settings.ANALYTICS_BEACON_RATE_LIMIT = 3
    codes = [beacon(client).status_code for _ in range(5)]
    assert codes == [204, 204, 204, 429, 429]
    assert beacon(client, REMOTE_ADDR="198.51.100.1").status_code == 204  # another address
    assert PageViewDaily.objects.get().count == 4


def test_only_post(client):
    assert client.get(URL).status_code == 405


def test_chapter_pages_load_the_beacon_script(client):
    html = client.get(CHAPTER).content.decode()
    assert 'src="/static/js/beacon.js"' in html
    assert 'data-endpoint="/s/pv/"' in html
    assert " defer" in html.split("beacon.js", 1)[1].split(">", 1)[0]
    script = b"".join(client.get("/static/js/beacon.js").streaming_content)
    assert b"sendBeacon" in script
    assert b"cookie" not in script.lower().replace(b"no cookie", b"")


def test_a_cached_page_still_counts(client):
    """The page may come from the page cache (or a CDN): the count comes from the browser."""
    client.get(CHAPTER)
    client.get(CHAPTER)  # a cache hit: no server-side counting is involved
    assert not PageViewDaily.objects.exists()
    beacon(client)
    beacon(client)
    assert PageViewDaily.objects.get().count == 2


@pytest.mark.django_db(transaction=True)
def test_the_upsert_is_atomic_under_concurrency():
    day = timezone.now().date() - dt.timedelta(days=1)
    errors = []

    def hit() -> None:
        try:
            for _ in range(25):
                pageview_record(path=CHAPTER, day=day)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PageViewDaily.objects.get(date=day).count == 100
