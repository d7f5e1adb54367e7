"""Admin for marketers: contacts with status, source and dates; consent history; their mails.

Everything that changes state goes through contacts.services (the actions). Contacts are not
added, edited or deleted here, and the consent ledger is read-only everywhere.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from contacts import selectors, services
from contacts.models import ConsentEvent, Contact, Subscription
from contacts.services import Actor


def _actor(request: HttpRequest, action: str) -> Actor:
    return Actor(detail=f"admin {request.user.get_username()}: {action}"[:200])


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubscriptionInline(ReadOnlyInline):
    model = Subscription
    verbose_name_plural = "Newsletter subscription"
    fields = readonly_fields = (
        "status", "requested_at", "confirmed_at", "unsubscribed_at", "last_confirmation_sent_at",
        "guide_slug", "chapter_number", "form_name", "page_path", "referrer",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    )  # fmt: skip


class ConsentEventInline(ReadOnlyInline):
    model = ConsentEvent
    verbose_name_plural = "Consent history"
    fields = readonly_fields = (
        "occurred_at", "event", "form_name", "page_path", "consent_version",
        "consent_text_sha256", "ip", "user_agent", "detail",
    )  # fmt: skip
    ordering = ("occurred_at", "pk")


def _each(
    action: Callable[..., bool], label: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[Contact]], None]:
    """An admin action calling `action(contact, actor)` per selected contact."""

    def run(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Contact]
    ) -> None:
        changed = skipped = 0
        for contact in queryset.select_related("subscription"):
            try:
                done = action(contact, _actor(request, label))
            except services.SubscriptionNotFoundError:
                done = False
            changed, skipped = changed + done, skipped + (not done)
        modeladmin.message_user(
            request,
            f"{label}: done for {changed} contact(s), nothing to do for {skipped}.",
            messages.SUCCESS if changed else messages.WARNING,
        )

    return run


def _subscription_id(contact: Contact) -> int:
    subscription = getattr(contact, "subscription", None)
    if subscription is None:
        raise services.SubscriptionNotFoundError("no subscription")
    return subscription.pk


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = (
        "email", "status", "guide", "chapter", "form_name", "created_at", "confirmed_at",
        "unsubscribed_at",
    )  # fmt: skip
    list_select_related = ("subscription",)
    list_filter = (
        "subscription__status",
        "subscription__guide_slug",
        "subscription__chapter_number",
        "subscription__form_name",
        "created_at",
        "subscription__confirmed_at",
    )
    search_fields = ("email",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False  # no second COUNT(*) on a large filtered list
    readonly_fields = ("email", "email_hash", "created_at", "mails")
    fields = readonly_fields
    inlines = (SubscriptionInline, ConsentEventInline)
    actions = ("resend_confirmation", "unsubscribe", "suppress", "lift_suppression")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # contacts come from signups and imports, with their consent

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only page; state changes are the actions below

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # erasure is a service of its own: it keeps the suppression hash

    # -- Columns -------------------------------------------------------------------------------

    @staticmethod
    def _sub(obj: Contact) -> Subscription | None:
        return getattr(obj, "subscription", None)

    @admin.display(description="Status", ordering="subscription__status")
    def status(self, obj: Contact) -> str:
        sub = self._sub(obj)
        return sub.get_status_display() if sub else "—"

    @admin.display(description="Guide", ordering="subscription__guide_slug")
    def guide(self, obj: Contact) -> str:
        sub = self._sub(obj)
        return sub.guide_slug if sub and sub.guide_slug else "—"

    @admin.display(description="Chapter", ordering="subscription__chapter_number")
    def chapter(self, obj: Contact) -> str:
        sub = self._sub(obj)
        return str(sub.chapter_number) if sub and sub.chapter_number else "—"

    @admin.display(description="Form", ordering="subscription__form_name")
    def form_name(self, obj: Contact) -> str:
        sub = self._sub(obj)
        return sub.form_name if sub and sub.form_name else "—"

    @admin.display(description="Confirmed", ordering="subscription__confirmed_at")
    def confirmed_at(self, obj: Contact) -> Any:
        sub = self._sub(obj)
        return sub.confirmed_at if sub else None

    @admin.display(description="Unsubscribed", ordering="subscription__unsubscribed_at")
    def unsubscribed_at(self, obj: Contact) -> Any:
        sub = self._sub(obj)
        return sub.unsubscribed_at if sub else None

    @admin.display(description="Mails to this address")
    def mails(self, obj: Contact) -> str:
        rows = selectors.contact_mails(contact=obj)
        if not rows:
            return "No mail yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{mail.created_at:%Y-%m-%d %H:%M}",
                    mail.template,
                    mail.get_category_display(),
                    mail.get_status_display(),
                    mail.delivery_status or "—",
                )
                for mail in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Created (UTC)</th><th>Template</th><th>Category</th>"
            "<th>Status</th><th>Delivery</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    # -- Actions (all through services) --------------------------------------------------------

    resend_confirmation = admin.action(
        description="Resend the confirmation mail (pending only, respects the cooldown)"
    )(
        _each(
            lambda c, actor: services.subscription_confirmation_resend(
                subscription_id=_subscription_id(c), actor=actor
            ),
            "Resend confirmation",
        )
    )
    unsubscribe = admin.action(description="Unsubscribe from the newsletter")(
        _each(
            lambda c, actor: services.subscription_unsubscribe(
                subscription_id=_subscription_id(c), actor=actor
            ),
            "Unsubscribe",
        )
    )
    suppress = admin.action(description="Suppress: never mail these addresses again")(
        _each(lambda c, actor: services.contact_suppress(contact_id=c.pk, actor=actor), "Suppress")
    )
    lift_suppression = admin.action(
        description="Lift a bounce, complaint or suppression (restores earlier consent only)"
    )(
        _each(
            lambda c, actor: services.contact_suppression_lift(contact_id=c.pk, actor=actor),
            "Lift suppression",
        )
    )


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """The ledger, read-only: no add, change or delete, ever."""

    list_display = ("occurred_at", "contact", "event", "form_name", "consent_version", "detail")
    list_filter = ("event", "consent_version", "form_name", "occurred_at")
    list_select_related = ("contact",)
    search_fields = ("contact__email",)
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = (
        "contact", "event", "occurred_at", "ip", "user_agent", "form_name", "page_path",
        "consent_version", "consent_text_sha256", "detail",
    )  # fmt: skip
    fields = readonly_fields
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
