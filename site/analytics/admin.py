"""The chapter funnel in the admin, as the changelist of a proxy model (no data of its own)."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from analytics import views_admin
from analytics.models import FunnelReport


@admin.register(FunnelReport)
class FunnelReportAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "is_nav_sidebar_enabled": False,  # the table needs the width
            **(extra_context or {}),
        }
        return views_admin.funnel_page(request, context=context)
