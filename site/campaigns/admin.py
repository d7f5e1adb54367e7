"""Campaigns in the admin: write a draft, preview it, send a test to yourself, send it.

Drafts are edited with the model form (saved through campaigns.services); a campaign that is
sending, sent or cancelled is read-only. "Send now" opens a confirmation page with the
recipient count and needs the `send_campaign` permission; everything that changes state
goes through campaigns.services. The preview is a separate page framed by the change form,
with its own Content-Security-Policy (the composed mail's inline styles, no scripts) and a
sandboxed iframe, so the admin's strict CSP stays as it is.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.dateparse import parse_datetime
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST

from campaigns import preflight, selectors, services
from campaigns.admin_review import CampaignReviewMixin
from campaigns.models import Campaign
from campaigns.progress import campaign_has_pending, campaign_progress
from core.exceptions import AppError
from mailings.compose import compose
from mailings.models import OutboundMail

#: The preview page's policy: inline styles (the composed mail is all inline CSS), images
#: from anywhere a subscriber's client would load them, nothing else; framed only by us.
PREVIEW_CSP = {
    "default-src": [CSP.NONE],
    "style-src": [CSP.UNSAFE_INLINE],
    "img-src": ["https:", "http:", "data:"],
    "frame-ancestors": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.NONE],
}


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["subject", "preheader", "body", "audience", "segment"]
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "cols": 90})}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("audience") == Campaign.Audience.SEGMENT and not data.get("segment"):
            self.add_error("segment", "Choose the segment to send to.")
        return data


@admin.register(Campaign)
class CampaignAdmin(CampaignReviewMixin, admin.ModelAdmin):
    form = CampaignForm
    list_display = ("subject", "status", "audience_label", "recipients_count", "queued_count",
                    "sent_at")  # fmt: skip
    list_filter = ("status",)
    actions = None  # no bulk delete: only a draft may be deleted, one at a time
    search_fields = ("subject",)
    list_select_related = ("segment",)
    change_form_template = "admin/campaigns/campaign/change_form.html"
    readonly_fields = ("status", "audience_label", "recipients_count", "queued_count",
                       "mail_progress", "created_at", "send_at", "send_started_at", "sent_at",
                       "preview")  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        editable = ("subject", "preheader", "body", "audience", "segment")
        if obj is None:
            return [(None, {"fields": editable})]
        state = ("status", "audience_label", "recipients_count", "queued_count", "mail_progress",
                 "created_at", "send_at", "send_started_at", "sent_at")  # fmt: skip
        return [(None, {"fields": editable}), ("Sending", {"fields": state}),
                ("Preview", {"fields": ("preview",)})]  # fmt: skip

    # -- Permissions ---------------------------------------------------------------------------

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and not obj.is_draft:
            return False  # sending, sent and cancelled campaigns are a record: read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        if obj is not None and not obj.is_draft:
            return False
        return super().has_delete_permission(request, obj)

    def has_send_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.send_{opts.model_name}")

    def has_test_permission(self, request: HttpRequest) -> bool:
        return self.has_send_permission(request) or super().has_change_permission(request)

    # -- Saving (through the service) ----------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        services.campaign_draft_save(campaign=obj, actor=request.user)

    # -- Read-only fields ----------------------------------------------------------------------

    @admin.display(description="Audience")
    def audience_label(self, obj: Campaign) -> str:
        return obj.audience_label

    @admin.display(description="Mails")
    def mail_progress(self, obj: Campaign) -> str:
        """Queued, paused, sent, failed and skipped (with reasons), rate and finish time."""
        if obj.pk is None:
            return "—"
        p = campaign_progress(campaign=obj)
        reasons = dict(OutboundMail.SkipReason.choices)
        why = ", ".join(
            f"{reasons.get(reason, reason).lower()} {n:,}"
            for reason, n in sorted(p.skipped_by_reason.items())
        )
        parts = [f"audience {p.audience:,}", f"queued {p.queued:,}"]
        if p.not_queued:
            parts.append(f"not yet queued {p.not_queued:,}")
        if p.held:
            parts.append(f"paused {p.held:,}")
        parts += [f"sent {p.sent:,}", f"failed {p.failed:,}", f"suppressed {p.suppressed:,}",
                  f"skipped {p.skipped:,}" + (f" ({why})" if why else "")]  # fmt: skip
        if p.rate:
            parts.append(f"{p.rate:,.0f} mails/s over the last minute")
        if p.finish_eta is not None:
            parts.append(f"done at about {timezone.localtime(p.finish_eta):%H:%M:%S}")
        return " · ".join(parts)

    @admin.display(description="Preview")
    def preview(self, obj: Campaign) -> str:
        if obj.pk is None:
            return "Save the draft to see a preview."
        url = reverse("admin:campaigns_campaign_preview", args=[obj.pk])
        return format_html(
            '<iframe src="{}" sandbox="" title="Preview of the campaign mail" class="ch-preview"'
            ' width="660" height="720" loading="lazy"></iframe>',
            url,
        )

    # -- Pages ---------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def view(function: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                return function(request, *args, **kwargs)

            return self.admin_site.admin_view(wrapper)

        name = "campaigns_campaign"
        return [
            path("<int:object_id>/preview/", view(self.preview_view), name=f"{name}_preview"),
            path("<int:object_id>/send-test/", view(self.send_test_view),
                 name=f"{name}_send_test"),
            path("<int:object_id>/send/", view(self.send_view), name=f"{name}_send"),
            path("<int:object_id>/cancel/", view(self.cancel_view), name=f"{name}_cancel"),
            path("<int:object_id>/schedule/", view(self.schedule_view), name=f"{name}_schedule"),
            path("<int:object_id>/pause/", view(self.pause_view), name=f"{name}_pause"),
            path("<int:object_id>/resume/", view(self.resume_view), name=f"{name}_resume"),
            *self.review_urls(view),
            *super().get_urls(),
        ]  # fmt: skip

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:  # fmt: skip
        extra = {
            "can_send": self.has_send_permission(request),
            "can_test": self.has_test_permission(request),
            "cancellable_statuses": ("draft", "scheduled", "sending", "paused"),
            "campaign_pending": object_id.isdigit()
            and campaign_has_pending(campaign_id=int(object_id)),
            **self.review_context(request, object_id),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def _campaign(self, request: HttpRequest, object_id: int, *, allowed: bool = True) -> Campaign:
        """The campaign, if it exists and the user may see it and (`allowed`) act on it."""
        campaign = Campaign.objects.select_related("segment").filter(pk=object_id).first()
        if campaign is None:
            raise Http404("No such campaign.")
        if not (allowed and self.has_view_or_change_permission(request, campaign)):
            raise PermissionDenied
        return campaign

    def _back(self, campaign: Campaign) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    @method_decorator([xframe_options_sameorigin, csp_override(PREVIEW_CSP)])
    def preview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The campaign's HTML part, composed exactly as a subscriber gets it."""
        campaign = self._campaign(request, object_id)
        composed = compose(
            template=services.TEMPLATE,
            context=services.campaign_mail_context(campaign=campaign),
            unsubscribe_url=settings.SITE_URL,  # a stand-in: each subscriber gets their own
        )
        response = HttpResponse(composed.html)
        response["Cache-Control"] = "no-store"
        return response

    def _outcome(
        self, request: HttpRequest, campaign: Campaign, action: Callable[[Campaign], str]
    ) -> HttpResponse:
        """Run a service call; its message (or the rule it broke) is shown on the campaign."""
        try:
            messages.success(request, action(campaign))
        except AppError as exc:
            messages.error(request, str(exc))
        return self._back(campaign)

    @method_decorator(require_POST)
    def send_test_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        campaign = self._campaign(request, object_id, allowed=self.has_test_permission(request))

        def send_test(campaign: Campaign) -> str:
            services.campaign_send_test(campaign=campaign, to=request.user.email)
            return f"A test is on its way to {request.user.email}."

        return self._outcome(request, campaign, send_test)

    def send_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: who will get it, and a button. POST: send (or resume a stalled fan-out)."""
        campaign = self._campaign(request, object_id, allowed=self.has_send_permission(request))
        if request.method == "POST":

            def send(campaign: Campaign) -> str:
                sending = services.campaign_send(campaign=campaign, actor=request.user)
                return (
                    f"“{sending}” is being sent to {sending.recipients_count:,} subscribers. "
                    "This page shows the progress."
                )

            return self._outcome(request, campaign, send)
        if campaign.status not in {Campaign.Status.DRAFT, Campaign.Status.SENDING}:
            messages.error(request, f"This campaign is {campaign.get_status_display().lower()}.")
            return self._back(campaign)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": "Resume sending?" if campaign.status == "sending" else "Send this campaign?",
            "campaign": campaign,
            "original": campaign,
            "recipients": selectors.campaign_audience_count(campaign=campaign),
            "preflight": preflight.campaign_preflight(campaign=campaign),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/send.html", context)

    def _control(
        self, request: HttpRequest, object_id: int, act: Callable[[Campaign], int], done: str
    ) -> HttpResponse:
        """Pause, resume or cancel (POST, `send_campaign`): the service's count in `done`."""
        campaign = self._campaign(request, object_id, allowed=self.has_send_permission(request))
        return self._outcome(request, campaign, lambda campaign: done.format(act(campaign)))

    @method_decorator(require_POST)
    def cancel_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return self._control(
            request, object_id,
            lambda campaign: services.campaign_cancel(campaign=campaign, actor=request.user),
            "Campaign cancelled: {:,} mails not yet sent are skipped.",
        )  # fmt: skip

    @method_decorator(require_POST)
    def pause_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return self._control(
            request, object_id,
            lambda campaign: services.campaign_pause(campaign=campaign, actor=request.user),
            "Paused: {:,} mails wait. Batches already being sent finish.",
        )  # fmt: skip

    @method_decorator(require_POST)
    def resume_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return self._control(
            request, object_id,
            lambda campaign: services.campaign_resume(campaign=campaign, actor=request.user),
            "Resumed: {:,} mails are queued again.",
        )  # fmt: skip

    @method_decorator(require_POST)
    def schedule_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """POST `send_at` (the admin's local time, from a datetime-local input)."""
        campaign = self._campaign(request, object_id, allowed=self.has_send_permission(request))

        def schedule(campaign: Campaign) -> str:
            when = parse_datetime(request.POST.get("send_at", ""))
            if when is None:
                raise AppError("Choose the date and time to send at.")
            if timezone.is_naive(when):
                when = timezone.make_aware(when)
            scheduled = services.campaign_schedule(
                campaign=campaign, send_at=when, actor=request.user
            )
            return f"Scheduled for {timezone.localtime(scheduled.send_at):%Y-%m-%d %H:%M}."

        return self._outcome(request, campaign, schedule)
