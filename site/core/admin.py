"""The audit log in the admin: readable by whoever may view it, never changed or deleted here."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.models import AuditEntry


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows rows and never adds, changes or deletes them (ledgers, logs)."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor_name", "object_repr")
    list_filter = ("action", "created_at")
    search_fields = ("=actor_name", "object_repr")
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 100
    fields = readonly_fields = (
        "created_at",
        "action",
        "actor",
        "actor_name",
        "object_repr",
        "detail",
    )
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
