from django.urls import reverse

import pytest

GUIDE = "modern-product-management"


def chapter_url(slug: str, guide: str = GUIDE) -> str:
    return reverse("guides:chapter", args=[guide, slug])


@pytest.mark.django_db
def test_home_lists_every_guide(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The Modern Product Manager" in html
    assert "Product Discovery in Practice" in html
    assert 'href="/modern-product-management/"' in html


@pytest.mark.django_db
def test_guide_page_lists_numbered_chapters(client):
    html = client.get(f"/{GUIDE}/").content.decode()
    assert "Chapter 12" in html
    assert "Product Manager vs. Technical Product Manager" in html
    assert html.count('class="toc__item') >= 12


@pytest.mark.django_db
def test_chapter_page_has_number_contents_and_neighbours(client):
    html = client.get(chapter_url("pm-vs-tpm")).content.decode()
    assert "Chapter 12" in html
    assert "<h1" in html
    assert "min read" in html
    assert 'rel="prev" href="/modern-product-management/stakeholders/"' in html
    assert 'rel="next"' not in html  # the last chapter has no next
    assert 'aria-label="Breadcrumb"' in html
    canonical = "http://testserver/modern-product-management/pm-vs-tpm/"
    assert f'<link rel="canonical" href="{canonical}">' in html
    first = client.get(chapter_url("what-a-product-manager-does")).content.decode()
    assert 'rel="prev"' not in first
    assert 'rel="next" href="/modern-product-management/core-skills/"' in first


@pytest.mark.django_db
def test_in_page_contents_link_to_real_anchors(client):
    html = client.get(chapter_url("roadmaps")).content.decode()
    import re

    anchors = re.findall(r'<li><a href="#([^"]+)">', html)
    assert len(anchors) >= 3
    for anchor in anchors:
        assert f'id="{anchor}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/nope/", f"/{GUIDE}/nope/", f"/{GUIDE}/../etc/passwd/", "/%00/", f"/{GUIDE}/x/y/"]
)
def test_unknown_pages_get_the_friendly_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "We couldn’t find that page" in response.content.decode()


@pytest.mark.django_db
def test_anonymous_pages_are_cacheable_and_cookie_free(client):
    url = chapter_url("roadmaps")
    response = client.get(url)
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert "public" in response["Cache-Control"]
    assert "max-age=" in response["Cache-Control"]
    etag = response["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get(url).content == response.content  # served from the page cache


@pytest.mark.django_db
def test_page_cache_follows_the_content_version(client, tmp_path, settings):
    import shutil

    from django.conf import settings as conf

    shutil.copytree(conf.CONTENT_DIR, tmp_path / "content")
    settings.CONTENT_DIR = tmp_path / "content"
    url = chapter_url("why-discovery", guide="product-discovery")
    before = client.get(url).content.decode()
    path = tmp_path / "content" / "product-discovery" / "01-why-discovery.md"
    path.write_text(path.read_text().replace("## Key takeaways", "## Key takeaways, revised"))
    from guides.content import reset_library

    reset_library()
    after = client.get(url).content.decode()
    assert "Key takeaways, revised" not in before
    assert "Key takeaways, revised" in after


@pytest.mark.django_db
def test_pages_answer_only_safe_methods(client):
    assert client.post("/").status_code == 405
    assert client.post(chapter_url("roadmaps")).status_code == 405


@pytest.mark.django_db
def test_sitemap_and_robots(client):
    xml = client.get("/sitemap.xml").content.decode()
    assert "<loc>http://testserver/modern-product-management/pm-vs-tpm/</loc>" in xml
    assert xml.count("<loc>") == 1 + 2 + 12 + 4
    robots = client.get("/robots.txt").content.decode()
    assert "Sitemap: http://testserver/sitemap.xml" in robots


@pytest.mark.django_db
def test_security_headers_on_pages(client):
    response = client.get(chapter_url("roadmaps"))
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
