"""Read-only views of what was sent and what the ESPs reported; suppression lifted explicitly."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.audit import audit_record
from core.models import AuditEntry
from mailings import services
from mailings.models import DeliveryEvent, OutboundMail, Suppression


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboundMail)
class OutboundMailAdmin(ReadOnlyAdmin):
    list_display = ("template", "to_email", "category", "status", "skip_reason",
                    "delivery_status", "attempts", "created_at", "sent_at")  # fmt: skip
    list_filter = ("status", "skip_reason", "category", "template", "delivery_status",
                   "created_at")  # fmt: skip
    search_fields = ("=to_email", "=esp_message_id")
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_per_page = 50
    exclude = ("context",)
    actions = ["requeue"]

    @admin.action(description="Send again the selected failed mails", permissions=["view"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboundMail]) -> None:
        count = services.mails_retry_failed(mail_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} mail(s) queued again.", messages.SUCCESS)


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "reject_reason", "esp_name", "occurred_at", "mail")
    list_filter = ("event_type", "esp_name", "reject_reason")
    search_fields = ("=esp_message_id", "=event_id")
    list_select_related = ("mail",)
    show_full_result_count = False


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ("email_hash", "reason", "detail", "created_at")
    list_filter = ("reason",)
    search_fields = ("=email_hash",)
    actions = ["lift"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("mailings.delete_suppression")

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Lift the suppression (the address may be mailed again)",
                  permissions=["delete"])  # fmt: skip
    def lift(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.suppressions_lift(ids=ids)
        audit_record(
            actor=request.user,
            action=AuditEntry.Action.DELETE,
            object_repr=f"{count} suppression(s)",
            detail={"model": "mailings.suppression", "ids": ids},
        )
        self.message_user(request, f"{count} suppression(s) lifted.", messages.WARNING)
