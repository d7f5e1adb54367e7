"""Admin for marketers: eBook requests and downloads per guide, chapter and form; each guide's
current eBook file with a "rebuild" button; a contact's requests on the contact page.

Read-only: rows come from the public form and the download link. The two actions (deliver
again, rebuild) go through ebooks.services.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path

import contacts.admin  # noqa: F401 - registers ContactAdmin, which gets our inline below
from contacts.models import Contact
from core.admin import ReadOnlyInline
from ebooks import selectors, services
from ebooks.models import EbookDownload, EbookFileProxy, EbookRequest

REQUEST_FIELDS = (
    "contact", "guide_slug", "chapter_number", "form_name", "newsletter_opt_in", "created_at",
    "delivered_at", "mail", "version", "enqueue_count", "enqueued_at", "page_path", "referrer",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "ip",
)  # fmt: skip


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # requests go with their contact (erasure, retention)


class EbookDownloadInline(ReadOnlyInline):
    model = EbookDownload
    verbose_name_plural = "Downloads through the mailed link"
    fields = readonly_fields = ("created_at", "version")
    show_change_link = False


@admin.register(EbookRequest)
class EbookRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "contact_email", "guide_slug", "chapter_number", "form_name",
        "newsletter_opt_in", "delivered_at", "mail_status", "downloads",
    )  # fmt: skip
    list_filter = (
        "guide_slug",
        "chapter_number",
        "form_name",
        "newsletter_opt_in",
        ("delivered_at", admin.EmptyFieldListFilter),
        "created_at",
    )
    search_fields = ("contact__email",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False  # no second COUNT(*) on a large filtered list
    readonly_fields = REQUEST_FIELDS
    fields = REQUEST_FIELDS
    inlines = (EbookDownloadInline,)
    actions = ("deliver_again",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EbookRequest]:
        return selectors.ebook_requests_for_admin()

    @admin.display(description="Contact", ordering="contact__email")
    def contact_email(self, obj: EbookRequest) -> str:
        return obj.contact.email

    @admin.display(description="Mail")
    def mail_status(self, obj: EbookRequest) -> str:
        if obj.mail is None:
            return "—"
        return obj.mail.delivery_status or obj.mail.get_status_display()

    @admin.display(description="Downloads", ordering="download_count")
    def downloads(self, obj: EbookRequest) -> int:
        return obj.download_count  # type: ignore[attr-defined]  # annotated by the selector

    @admin.action(description="Deliver again (undelivered requests only)")
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[EbookRequest]) -> None:
        count = services.ebook_requests_redeliver(
            request_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request,
            f"Delivery queued again for {count} request(s); delivered ones were left alone.",
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(EbookDownload)
class EbookDownloadAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "contact_email", "guide", "chapter", "source_form", "version")
    list_filter = (
        "request__guide_slug",
        "request__chapter_number",
        "request__form_name",
        "created_at",
    )
    search_fields = ("request__contact__email",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    fields = readonly_fields = ("request", "version", "created_at")
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[EbookDownload]:
        return selectors.ebook_downloads_for_admin()

    @admin.display(description="Contact", ordering="request__contact__email")
    def contact_email(self, obj: EbookDownload) -> str:
        return obj.request.contact.email

    @admin.display(description="Guide", ordering="request__guide_slug")
    def guide(self, obj: EbookDownload) -> str:
        return obj.request.guide_slug

    @admin.display(description="Chapter", ordering="request__chapter_number")
    def chapter(self, obj: EbookDownload) -> str:
        return str(obj.request.chapter_number or "—")

    @admin.display(description="Form", ordering="request__form_name")
    def source_form(self, obj: EbookDownload) -> str:
        return obj.request.form_name or "—"


@admin.register(EbookFileProxy)
class EbookFileAdmin(ReadOnlyAdmin):
    """One page: every guide's current eBook (size, pages, render time) and a rebuild button.

    The proxy model only gives the page its place in the admin index and its permissions;
    there are no change, add or delete pages.
    """

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="{}_{}_changelist".format(*info))]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        can_rebuild = request.user.has_perm("ebooks.change_ebookfileproxy")
        if request.method == "POST":
            if not can_rebuild:
                return HttpResponse(status=403)
            self._rebuild(request, request.POST.get("guide", ""))
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "PDF files: the current eBook of each guide",
            "opts": self.opts,
            "guides": selectors.guide_ebooks_overview(),
            "can_rebuild": can_rebuild,
            **(extra_context or {}),
        }
        return render(request, "ebooks/admin/files.html", context)

    def _rebuild(self, request: HttpRequest, guide_slug: str) -> None:
        try:
            queued = services.ebook_rebuild(guide_slug=guide_slug)
        except services.EbookGuideNotFoundError:
            self.message_user(request, "No guide is called that.", messages.ERROR)
            return
        if queued:
            self.message_user(
                request,
                f"Rebuild of “{guide_slug}” queued: reload this page in a minute.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, "The task queue is unreachable: try again shortly.", messages.ERROR
            )


# -- On the contact page -------------------------------------------------------------------------


class EbookRequestInline(ReadOnlyInline):
    show_change_link = True
    model = EbookRequest
    verbose_name_plural = "“Get the PDF” requests"
    fields = readonly_fields = (
        "created_at", "guide_slug", "chapter_number", "form_name", "newsletter_opt_in",
        "delivered_at", "downloads",
    )  # fmt: skip
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EbookRequest]:
        return selectors.ebook_requests_for_admin()

    @admin.display(description="Downloads")
    def downloads(self, obj: EbookRequest) -> int:
        return obj.download_count  # type: ignore[attr-defined]  # annotated by the selector


def _show_requests_on_contacts() -> None:
    """Add the inline to contacts' ContactAdmin from this side, so that contacts need not know
    about eBooks (the dependency arrow is ebooks -> contacts)."""
    try:
        contact_admin = admin.site.get_model_admin(Contact)
    except NotRegistered:
        return
    if EbookRequestInline not in contact_admin.inlines:
        contact_admin.inlines = (*contact_admin.inlines, EbookRequestInline)


_show_requests_on_contacts()
