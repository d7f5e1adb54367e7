"""Security headers on every public page type, on a fresh render and on a page-cache hit.

SecurityMiddleware sets nosniff, Referrer-Policy and COOP (and HSTS on https requests);
ContentSecurityPolicyMiddleware sets the CSP from SECURE_CSP. A page type is covered once per
kind of view: cached guide pages, the 404 handler, plain views, the sitemap and the admin.
"""

import pytest

GUIDE = "modern-product-management"

#: page type -> (path, status)
PAGES = {
    "home": ("/", 200),
    "guide": (f"/{GUIDE}/", 200),
    "chapter": (f"/{GUIDE}/pm-vs-tpm/", 200),
    "404": (f"/{GUIDE}/no-such-chapter/", 404),
    "healthz": ("/healthz", 200),
    "robots.txt": ("/robots.txt", 200),
    "sitemap.xml": ("/sitemap.xml", 200),
    "admin login": ("/admin/login/", 200),
}

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.parametrize(("path", "status"), PAGES.values(), ids=PAGES.keys()),
]


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_every_page_sends_the_security_headers(client, path, status, secure):
    for attempt in ("fresh", "cached"):  # the page cache must not drop headers
        response = client.get(path, secure=secure)
        assert response.status_code == status, attempt

        csp = csp_directives(response.headers["Content-Security-Policy"])
        assert csp["frame-ancestors"] == ["'none'"], attempt
        assert csp["default-src"] == ["'self'"], attempt
        assert csp["object-src"] == ["'none'"], attempt
        assert csp["base-uri"] == ["'none'"], attempt
        assert response.headers["X-Content-Type-Options"] == "nosniff", attempt
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", attempt
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", attempt
        assert response.headers["X-Frame-Options"] == "DENY", attempt


def test_production_settings_send_hsts_on_https_only(client, settings, path, status):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_SSL_REDIRECT = False

    response = client.get(path, secure=True)
    assert response.status_code == status
    assert response.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    # Over plain http the header means nothing to browsers, and Django does not send it.
    assert "Strict-Transport-Security" not in client.get(path).headers
