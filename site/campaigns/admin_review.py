"""The campaign admin's checking and reading pages: pre-flight, text preview, test send to
staff, duplicate, results and the per-recipient CSV.

A mixin of CampaignAdmin (campaigns.admin), kept apart from the sending controls. Every
change goes through a service (campaigns.drafts); reads through campaigns.preflight and
campaigns.results. Pages use the admin's strict CSP: styles come from static files only.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from campaigns import drafts, preflight, results, services
from campaigns.forms import TestSendForm
from campaigns.models import Campaign
from core.audit import audit_record
from core.exceptions import AppError
from core.models import AuditEntry
from mailings.compose import Composed, compose

#: Statuses that have results to show.
STARTED = frozenset({"sending", "paused", "sent", "cancelled"})


def campaign_composed(*, campaign: Campaign) -> Composed:
    """The campaign mail as a subscriber gets it, composed by mailings.compose; the
    unsubscribe link is a stand-in (each subscriber gets their own)."""
    return compose(
        template=services.TEMPLATE,
        context=services.campaign_mail_context(campaign=campaign),
        unsubscribe_url=settings.SITE_URL + "/s/unsubscribe/…/",
    )


class CampaignReviewMixin:
    """Adds the review pages to a ModelAdmin that defines `_campaign`, `_back`,
    `has_send_permission` and `has_test_permission` (CampaignAdmin)."""

    _campaign: Callable[..., Campaign]
    _back: Callable[[Campaign], HttpResponseRedirect]
    has_test_permission: Callable[[HttpRequest], bool]
    admin_site: Any
    opts: Any

    def review_urls(
        self, view: Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]
    ) -> list[URLPattern]:
        name = "campaigns_campaign"
        return [
            path("<int:object_id>/test-send/", view(self.test_send_view),
                 name=f"{name}_test_send"),
            path("<int:object_id>/duplicate/", view(self.duplicate_view),
                 name=f"{name}_duplicate"),
            path("<int:object_id>/results/", view(self.results_view), name=f"{name}_results"),
            path("<int:object_id>/results.csv", view(self.results_csv_view),
                 name=f"{name}_results_csv"),
        ]  # fmt: skip

    def _can_export(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contacts.export_contact")

    def review_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The change page's extra context: pre-flight (not started yet), the composed mail
        (its subject and text part), and whether there are results to link to."""
        campaign = Campaign.objects.select_related("segment").filter(pk=object_id).first()
        if campaign is None:
            return {}
        context: dict[str, Any] = {"has_results": campaign.status in STARTED}
        if campaign.status in preflight.NOT_STARTED:
            context["preflight"] = preflight.campaign_preflight(campaign=campaign)
        context["composed"] = campaign_composed(campaign=campaign)
        return context

    def _page(self, request: HttpRequest, campaign: Campaign, title: str,
              **extra: Any) -> dict[str, Any]:  # fmt: skip
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": title,
            "campaign": campaign,
            "original": campaign,
            **extra,
        }

    def test_send_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """GET: a form with the user's own address. POST: queue a test to each address."""
        campaign = self._campaign(request, object_id, allowed=self.has_test_permission(request))
        if request.method == "POST":
            form = TestSendForm(request.POST)
            if form.is_valid():
                to = form.cleaned_data["recipients"]
                try:
                    drafts.campaign_test_send(campaign=campaign, to=to, actor=request.user)
                except AppError as exc:
                    form.add_error("recipients", str(exc))
                else:
                    messages.success(request, f"A test is on its way to {', '.join(to)}.")
                    return self._back(campaign)
        else:
            form = TestSendForm(initial={"recipients": request.user.email})
        context = self._page(request, campaign, "Send a test", form=form,
                             max_recipients=drafts.MAX_TEST_RECIPIENTS)  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/test_send.html", context)

    @method_decorator(require_POST)
    def duplicate_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        if not self.has_add_permission(request):  # type: ignore[attr-defined]
            messages.error(request, "You may not create campaigns.")
            return self._back(campaign)
        copy = drafts.campaign_duplicate(campaign=campaign, actor=request.user)
        messages.success(request, "A copy of the campaign, as a new draft. Edit it below.")
        return self._back(copy)

    def results_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        campaign = self._campaign(request, object_id)
        figures = results.campaign_results(campaign_id=campaign.pk)
        context = self._page(
            request, campaign, f"Results: {campaign.subject}", results=figures,
            complaint_flag=results.COMPLAINT_FLAG, can_export=self._can_export(request),
        )  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/results.html", context)

    def results_csv_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        campaign = self._campaign(request, object_id, allowed=self._can_export(request))
        audit_record(
            actor=request.user, action=AuditEntry.Action.EXPORT,
            object_repr=f"campaign results ({campaign})"[:200],
            detail={"campaign_id": campaign.pk, "scope": "campaign_results"},
        )  # fmt: skip
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(
            results.campaign_outcomes_csv_lines(campaign_id=campaign.pk),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="campaign-{campaign.pk}-results-{stamp}.csv"'
        )
        response["Cache-Control"] = "no-store"
        return response
