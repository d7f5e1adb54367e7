"""Admin for marketers: contacts with status, source and dates; consent history; their mails;
CSV import and export, GDPR export and erase, tags and saved segments.

Everything that changes state goes through contacts.services, importing, gdpr and segments
(the actions and the pages of contacts.admin_tools). Contacts are not added, edited or
deleted here, and the consent ledger is read-only everywhere. The list stays fast on 100,000
contacts: one query for the page (subscription joined), one for its tags, filters whose
choices cost no query, and no full COUNT(*) beside the filtered one.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from contacts import admin_tools, segments, selectors, services
from contacts.models import ConsentEvent, Contact, Segment, Subscription, Tag
from contacts.services import Actor
from core.admin import ReadOnlyInline
from guides.content import get_library


def _actor(request: HttpRequest, action: str) -> Actor:
    return Actor(detail=f"admin {request.user.get_username()}: {action}"[:200])


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


# -- Filters whose choices cost no query (no SELECT DISTINCT over 100,000 rows) ---------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "subscription__status"
    NONE = "none"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*Subscription.Status.choices, (self.NONE, "No subscription (never mailed)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if value == self.NONE:
            return queryset.filter(subscription__isnull=True)
        if value in Subscription.Status.values:
            return queryset.filter(subscription__status=value)
        return queryset


class GuideFilter(admin.SimpleListFilter):
    """Guides from the content index (plus "none"), not from the data."""

    title = "signup guide"
    parameter_name = "subscription__guide_slug"
    NONE = "-"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        guides = [(g.slug, g.title) for g in get_library().guides]
        return [*guides, (self.NONE, "No guide (home page, import…)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if value == self.NONE:
            return queryset.filter(subscription__guide_slug="")
        if value:
            return queryset.filter(subscription__guide_slug=value)
        return queryset


class ChapterFilter(admin.SimpleListFilter):
    """The chapters of the guide chosen in GuideFilter (hidden until a guide is chosen)."""

    title = "signup chapter"
    parameter_name = "subscription__chapter_number"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        guide = get_library().guide(request.GET.get(GuideFilter.parameter_name, ""))
        if guide is None:
            value = request.GET.get(self.parameter_name, "")
            return [(value, f"Chapter {value}")] if value.isdigit() else []
        return [(str(c.number), f"{c.number}. {c.title}") for c in guide.chapters]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(subscription__chapter_number=int(value))
        return queryset


class FormFilter(admin.SimpleListFilter):
    """Form names seen in the data, by a "loose index scan": one index lookup per distinct
    name (a recursive CTE over the subscription_form index) instead of a scan of the table."""

    title = "signup form"
    parameter_name = "subscription__form_name"
    SQL = """
        WITH RECURSIVE names(name) AS (
            SELECT MIN(form_name) FROM {table} WHERE form_name > ''
            UNION ALL
            SELECT (SELECT MIN(s.form_name) FROM {table} s WHERE s.form_name > names.name)
            FROM names WHERE names.name IS NOT NULL
        )
        SELECT name FROM names WHERE name IS NOT NULL LIMIT 50
    """

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        table = connection.ops.quote_name(Subscription._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(self.SQL.format(table=table))
            return [(name, name) for (name,) in cursor.fetchall()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        return queryset.filter(subscription__form_name=value) if value else queryset


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Tag.objects.values_list("pk", "name")[:200]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        through = Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag_id=value)
        return queryset.filter(Exists(through))  # no JOIN, so no DISTINCT needed


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = (
        "email", "status", "guide", "chapter", "form_name", "created_at", "confirmed_at",
        "unsubscribed_at", "tag_list",
    )  # fmt: skip
    list_select_related = ("subscription",)
    list_filter = (
        StatusFilter,
        GuideFilter,
        ChapterFilter,
        FormFilter,
        TagFilter,
        "created_at",
        "subscription__confirmed_at",
    )
    search_fields = ("email",)
    search_help_text = "Part of an address, e.g. “ann@” or “@example.com”."
    # No date_hierarchy: its MIN/MAX and DISTINCT date queries scan every matching row on each
    # page; the "created at" filter offers the same periods for free.
    ordering = ("-created_at",)
    list_per_page = 50
    list_max_show_all = 500
    show_full_result_count = False  # no second COUNT(*) on a large filtered list
    readonly_fields = ("email", "email_hash", "created_at", "tag_list", "mails")
    fields = readonly_fields
    inlines = (SubscriptionInline, ConsentEventInline)
    actions = (
        "resend_confirmation", "unsubscribe", "suppress", "lift_suppression", "export_selected",
        "add_tag", "remove_tag",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return (
            super().get_queryset(request)
            .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("name")))
        )  # fmt: skip

    # -- Permissions (Meta.permissions on Contact) ---------------------------------------------

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.export_contact")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.import_contact")

    def has_tag_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.tag_contact")

    def has_gdpr_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.gdpr_export_contact")

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.erase_contact")

    # -- Pages ---------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                return function(self, request, *args, **kwargs)

            return self.admin_site.admin_view(wrapper)

        name = "contacts_contact"
        return [
            path("export/", view(admin_tools.export_view), name=f"{name}_export"),
            path("import/", view(admin_tools.import_view), name=f"{name}_import"),
            path("import/<str:token>/", view(admin_tools.import_preview_view),
                 name=f"{name}_import_preview"),
            path("import/<str:token>/done/", view(admin_tools.import_done_view),
                 name=f"{name}_import_done"),
            path("import/<str:token>/report.csv", view(admin_tools.import_report_csv_view),
                 name=f"{name}_import_report"),
            path("<path:object_id>/personal-data.json", view(admin_tools.gdpr_export_view),
                 name=f"{name}_gdpr_export"),
            path("<path:object_id>/erase/", view(admin_tools.erase_view), name=f"{name}_erase"),
            *super().get_urls(),
        ]  # fmt: skip

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        query = request.GET.copy()
        for key in ("p", "e"):
            query.pop(key, None)
        filtered = any(key not in {"o", "all", "_changelist_filters"} for key in query)
        extra = {
            "can_import": self.has_import_permission(request),
            "can_export": self.has_export_permission(request),
            "export_url": reverse("admin:contacts_contact_export")
            + (f"?{query.urlencode()}" if query else ""),
            "export_filtered": filtered,
            "is_filtered": filtered,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:  # fmt: skip
        extra = {
            "can_gdpr_export": self.has_gdpr_export_permission(request),
            "can_erase": self.has_erase_permission(request),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

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

    @admin.display(description="Tags")
    def tag_list(self, obj: Contact) -> str:
        return ", ".join(tag.name for tag in obj.tags.all()) or "—"

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
                    mail.get_status_display()
                    + (f" ({mail.get_skip_reason_display()})" if mail.skip_reason else ""),
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

    # Suppressions protect the sender's reputation: adding one needs mailings' add permission,
    # lifting one its delete permission (a marketer has neither).
    def has_suppress_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mailings.add_suppression")

    def has_lift_suppression_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mailings.delete_suppression")

    suppress = admin.action(
        description="Suppress: never mail these addresses again", permissions=["suppress"]
    )(_each(lambda c, actor: services.contact_suppress(contact_id=c.pk, actor=actor), "Suppress"))
    lift_suppression = admin.action(
        description="Lift a bounce, complaint or suppression (restores earlier consent only)",
        permissions=["lift_suppression"],
    )(
        _each(
            lambda c, actor: services.contact_suppression_lift(contact_id=c.pk, actor=actor),
            "Lift suppression",
        )
    )

    # -- CSV export and tags (pages in contacts.admin_tools) -----------------------------------

    @admin.action(description="Export the selected contacts as CSV", permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse:
        return admin_tools.export_response(
            request, queryset, scope="selection", rows=queryset.count()
        )

    @admin.action(description="Add a tag to the selected contacts…", permissions=["tag"])
    def add_tag(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        return admin_tools.tag_action(self, request, queryset, remove=False)

    @admin.action(description="Remove a tag from the selected contacts…", permissions=["tag"])
    def remove_tag(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        return admin_tools.tag_action(self, request, queryset, remove=True)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_count", "created_at")
    search_fields = ("name",)
    fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(n_contacts=Count("contacts"))

    @admin.display(description="Contacts", ordering="n_contacts")
    def contact_count(self, obj: Tag) -> str:
        return f"{obj.n_contacts:,}"  # type: ignore[attr-defined]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    """Saved audiences for campaigns; the count is live (one COUNT per segment shown)."""

    list_display = ("name", "status", "tag_names", "guide_slug", "chapter_number", "live_count")
    search_fields = ("name",)
    list_per_page = 25
    filter_horizontal = ("tags",)
    readonly_fields = ("live_count", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "live_count")}),
        ("Who", {"fields": ("status", "tags", "tag_match")}),
        ("Where and when they signed up", {
            "fields": ("guide_slug", "chapter_number", "signed_up_from", "signed_up_to"),
            "description": "The guide slug and chapter number of the signup box; dates in UTC, "
                           "both ends included.",
        }),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Segment]:
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="Tags")
    def tag_names(self, obj: Segment) -> str:
        names = [t.name for t in obj.tags.all()]
        joiner = " and " if obj.tag_match == Segment.TagMatch.ALL else " or "
        return joiner.join(names) or "—"

    @admin.display(description="Contacts now")
    def live_count(self, obj: Segment) -> str:
        if obj.pk is None:
            return "Save to see the count."
        return f"{segments.segment_count(obj):,}"

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


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
