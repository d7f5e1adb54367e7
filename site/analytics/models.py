"""Private page-view counts: one row per day and page, no cookie, no IP, no visitor id.

Written only by analytics.services.pageview_record (an atomic upsert), fed by the cookieless
beacon (core/static/js/beacon.js -> POST /s/pv/). See docs/decisions/0006-private-page-views.md.
"""

from django.db import models


class PageViewDaily(models.Model):
    """Views of one page on one UTC day. The home page is guide "" chapter 0; a guide's own
    page is chapter 0. Only pages of the content index are counted (a bounded key space)."""

    date = models.DateField()
    guide_slug = models.CharField("guide", max_length=100, blank=True)
    chapter_number = models.PositiveSmallIntegerField("chapter", default=0)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of every date-range query (the date comes first).
            models.UniqueConstraint(
                fields=["date", "guide_slug", "chapter_number"], name="pageview_day_page"
            )
        ]
        ordering = ["-date", "guide_slug", "chapter_number"]
        verbose_name = "daily page views"
        verbose_name_plural = "daily page views"

    def __str__(self) -> str:
        page = f"{self.guide_slug or 'home'}#{self.chapter_number}"
        return f"{page} on {self.date}: {self.count}"


class FunnelReport(PageViewDaily):
    """No data of its own: the admin's per-chapter funnel page hangs off this proxy, so that it
    appears in the admin index and is granted with the usual "view" permission."""

    class Meta:
        proxy = True
        verbose_name = "chapter funnel"
        verbose_name_plural = "chapter funnel"
