"""The audit log in the admin: readable by whoever may view it, never changed or deleted here.
Waiting form submissions: what workers have not acted on yet, with a way to try again."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core import intake
from core.models import AuditEntry, FormSubmission


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


@admin.register(FormSubmission)
class FormSubmissionAdmin(admin.ModelAdmin):
    """Accepted forms a worker has not acted on yet (seconds, normally). Rows that stay here
    failed SUBMISSION_MAX_ATTEMPTS times or wait for a worker: see docs/RELIABILITY.md."""

    list_display = ("received_at", "kind", "attempts", "last_error", "enqueued_at")
    list_filter = ("kind", "attempts")
    search_fields = ("=email",)
    fields = readonly_fields = (
        "kind",
        "email",
        "received_at",
        "enqueued_at",
        "attempts",
        "last_error",
        "payload",
    )
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Try again now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[FormSubmission]) -> None:
        count = intake.submissions_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} form(s) sent to a worker again.", messages.SUCCESS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("core.delete_formsubmission")
