from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from guides.content import get_library


class GuideSitemap(Sitemap):
    """Home, every guide and every chapter, with absolute URLs on SITE_URL."""

    changefreq = "weekly"

    def items(self) -> list[tuple[str, dict[str, str]]]:
        entries: list[tuple[str, dict[str, str]]] = [("guides:home", {})]
        for guide in get_library().guides:
            entries.append(("guides:guide", {"guide_slug": guide.slug}))
            entries += [
                ("guides:chapter", {"guide_slug": guide.slug, "chapter_slug": c.slug})
                for c in guide.chapters
            ]
        return entries

    def location(self, item: tuple[str, dict[str, str]]) -> str:
        name, kwargs = item
        return reverse(name, kwargs=kwargs)

    def get_domain(self, site: object = None) -> str:
        return settings.SITE_URL.split("://", 1)[1]

    def get_protocol(self, protocol: str | None = None) -> str:
        return settings.SITE_URL.split("://", 1)[0]
