"""URL map. Each app owns its urls module; names are namespaced (guides:chapter)."""

from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from core import health
from guides.sitemaps import GuideSitemap
from guides.views import robots_txt

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("robots.txt", robots_txt, name="robots"),
    path("sitemap.xml", sitemap, {"sitemaps": {"guides": GuideSitemap}}, name="sitemap"),
    path("admin/", admin.site.urls),
    path("anymail/", include("mailings.webhooks")),  # Anymail's ESP webhooks, guarded
    path("", include("contacts.urls")),
    path("", include("ebooks.urls")),
    path("", include("analytics.urls")),
    path("", include("guides.urls")),
]

handler400 = "core.views.bad_request"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
