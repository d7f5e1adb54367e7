"""The contact admin's extra pages: CSV import (upload, preview, apply), CSV export, GDPR
export and erase, and the tag picker of the bulk tag actions.

Views stay thin: a form validates, a function of contacts.importing / exporting / gdpr /
segments does the work, and the page renders or redirects. Mounted by ContactAdmin.get_urls.
"""

import json
import logging
import uuid
import zlib
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from contacts import exporting, gdpr, importing, segments
from contacts.importing import ImportFileError, ImportOptions, ImportReport, Mode
from contacts.models import Contact, Tag
from core.audit import audit_record
from core.models import AuditEntry

if TYPE_CHECKING:
    from contacts.admin import ContactAdmin

logger = logging.getLogger(__name__)

#: An uploaded file and its reports wait this long between preview and apply.
IMPORT_TTL = 2 * 3600
#: Seconds of work per request when applying (a 50,000-row import takes a few steps).
IMPORT_STEP_SECONDS = getattr(settings, "CONTACTS_IMPORT_STEP_SECONDS", 8)
#: Rows of the report shown on the page (the CSV has them all).
REPORT_ROWS_SHOWN = 500
#: Changelist parameters that are not filters.
_NOT_FILTERS = frozenset({"o", "p", "all", "e", "_changelist_filters"})


def _context(model_admin: "ContactAdmin", request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "app_label": model_admin.model._meta.app_label,
        **extra,
    }


# -- Export ------------------------------------------------------------------------------------


def _filters_described(request: HttpRequest) -> dict[str, str]:
    """The changelist filters of an export, with the search term redacted (it may be an
    address, and the audit log holds no personal data)."""
    described = {}
    for key, value in request.GET.items():
        if key in _NOT_FILTERS:
            continue
        described[key] = f"<search, {len(value)} characters>" if key == "q" else value[:100]
    return described


def export_response(
    request: HttpRequest, queryset: QuerySet[Contact], *, scope: str, rows: int
) -> StreamingHttpResponse:
    """Stream `queryset` as CSV after writing the audit entry."""
    audit_record(
        actor=request.user,
        action=AuditEntry.Action.EXPORT,
        object_repr=f"contacts ({scope})",
        detail={"scope": scope, "rows": rows, "filters": _filters_described(request)},
    )
    response = StreamingHttpResponse(
        exporting.contacts_csv_lines(queryset), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="contacts-{timezone.now():%Y-%m-%d-%H%M}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response


def export_view(model_admin: "ContactAdmin", request: HttpRequest) -> HttpResponse:
    """Export every contact the changelist shows with the same filters and search."""
    if not model_admin.has_export_permission(request):
        raise PermissionDenied
    try:
        changelist = model_admin.get_changelist_instance(request)
    except IncorrectLookupParameters:
        return HttpResponseRedirect(reverse("admin:contacts_contact_changelist") + "?e=1")
    filtered = any(key not in _NOT_FILTERS for key in request.GET)
    return export_response(
        request,
        changelist.queryset,
        scope="filtered" if filtered else "all",
        rows=changelist.result_count,
    )


# -- Import ------------------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A first line naming the columns, one of them “email”. Commas, semicolons or "
        "tabs; up to 100,000 rows and 20 MB.",
    )
    encoding = forms.ChoiceField(
        choices=list(importing.ENCODINGS.items()),
        initial="utf-8",
        help_text="A byte-order mark (BOM) is recognised whatever you choose here.",
    )
    mode = forms.ChoiceField(
        label="Rows without a consent date",
        choices=[
            (
                Mode.DOUBLE_OPT_IN.value,
                "Send a confirmation mail (double opt-in): they become "
                "subscribers only if they click the link",
            ),
            (Mode.NON_MAILABLE.value, "Store them as contacts that are never mailed"),
        ],
        initial=Mode.DOUBLE_OPT_IN.value,
        widget=forms.RadioSelect,
    )
    tags = forms.CharField(
        required=False,
        max_length=300,
        label="Tag every row with",
        help_text="Optional; separate several tags with commas.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > importing.MAX_FILE_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB: please split it.")
        return upload

    def clean_tags(self) -> tuple[str, ...]:
        try:
            names = importing.tag_names_clean([self.cleaned_data["tags"]])
        except ValueError as exc:
            raise forms.ValidationError(str(exc).capitalize() + ".") from exc
        return tuple(names.values())


def _key(token: str) -> str:
    return f"contacts:import:{token}"


def _stash_get(request: HttpRequest, token: str) -> dict[str, Any]:
    stash = cache.get(_key(token)) if len(token) == 32 and token.isalnum() else None
    if stash is None or stash["user_id"] != request.user.pk:
        raise Http404("This import has expired or belongs to someone else.")
    return stash


def _pack(report: ImportReport) -> bytes:
    return zlib.compress(json.dumps(report.to_json()).encode(), 6)


def _unpack(blob: bytes) -> ImportReport:
    return ImportReport.from_json(json.loads(zlib.decompress(blob)))


def _options(stash: dict[str, Any]) -> ImportOptions:
    return ImportOptions(
        mode=Mode(stash["mode"]), tags=tuple(stash["tags"]), encoding=stash["encoding"]
    )


def import_view(model_admin: "ContactAdmin", request: HttpRequest) -> HttpResponse:
    """Upload: parse and dry-run the file, keep it for the apply step, show the preview."""
    if not model_admin.has_import_permission(request):
        raise PermissionDenied
    form = ImportForm(request.POST or None, request.FILES or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        options = ImportOptions(
            mode=Mode(form.cleaned_data["mode"]),
            tags=form.cleaned_data["tags"],
            encoding=form.cleaned_data["encoding"],
        )
        try:
            parsed = importing.import_parse(data=data, encoding=options.encoding)
        except ImportFileError as exc:
            error = str(exc)
        else:
            report = importing.import_preview(parsed=parsed, options=options)
            token = uuid.uuid4().hex
            stash = {
                "user_id": request.user.pk,
                "file_name": form.cleaned_data["file"].name[:100],
                "data": zlib.compress(data, 6),
                "mode": options.mode.value,
                "tags": list(options.tags),
                "encoding": options.encoding,
                "delimiter": parsed.delimiter,
                "columns": parsed.columns,
                "ignored": parsed.ignored_columns,
                "undecodable": parsed.undecodable_rows,
                "used_encoding": parsed.encoding,
                "preview": _pack(report),
                "result": None,
            }
            try:
                cache.set(_key(token), stash, timeout=IMPORT_TTL)
            except Exception:
                logger.exception("import: could not keep the uploaded file in the cache")
                error = "The file could not be kept for the next step (cache unavailable)."
            else:
                return HttpResponseRedirect(
                    reverse("admin:contacts_contact_import_preview", args=[token])
                )
    context = _context(
        model_admin,
        request,
        title="Import contacts from CSV",
        form=form,
        error=error,
        columns=importing.HEADER_ALIASES,
        send_now=getattr(settings, "CONTACTS_IMPORT_SEND_NOW", 500),
    )
    return TemplateResponse(request, "admin/contacts/contact/import.html", context)


def _report_context(report: ImportReport, request: HttpRequest) -> dict[str, Any]:
    show = request.GET.get("show", "")
    rows = [r for r in report.results if not show or r.outcome == show]
    return {
        "report": report,
        "counts": report.counts,
        "reasons": report.reasons[:20],
        "rows": rows[:REPORT_ROWS_SHOWN],
        "rows_total": len(rows),
        "rows_truncated": len(rows) > REPORT_ROWS_SHOWN,
        "show": show,
        "shows": [("", "All rows"), *[(o.value, o.value.capitalize()) for o in importing.Outcome]],
    }


def import_preview_view(
    model_admin: "ContactAdmin", request: HttpRequest, token: str
) -> HttpResponse:
    """GET: the dry-run report (or the progress of an apply). POST: apply the import, one
    time-boxed step per request; the progress page posts the next step by itself."""
    if not model_admin.has_import_permission(request):
        raise PermissionDenied
    stash = _stash_get(request, token)
    done_url = reverse("admin:contacts_contact_import_done", args=[token])
    if stash["result"] is not None:
        return HttpResponseRedirect(done_url)
    if request.method == "POST":
        lock = _key(token) + ":lock"
        if not cache.add(lock, 1, timeout=IMPORT_STEP_SECONDS * 6):
            return HttpResponseRedirect(request.path)  # a step is running (double click)
        try:
            return _import_step(request, token, stash, done_url)
        finally:
            cache.delete(lock)
    progress = _unpack(stash["progress"]) if stash.get("progress") else None
    report = _unpack(stash["preview"])
    context = _context(
        model_admin,
        request,
        token=token,
        stash=stash,
        applied=False,
        title="Importing…" if progress else "Check the import before applying it",
        progress=progress,
        rows_done=progress.next_row if progress else 0,
        progress_width=round(400 * (progress.next_row or 0) / max(1, len(report.results)))
        if progress
        else 0,
        **_report_context(report, request),
    )
    return TemplateResponse(request, "admin/contacts/contact/import_report.html", context)


def _import_step(
    request: HttpRequest, token: str, stash: dict[str, Any], done_url: str
) -> HttpResponse:
    parsed = importing.import_parse(data=zlib.decompress(stash["data"]), encoding=stash["encoding"])
    resume = _unpack(stash["progress"]) if stash.get("progress") else None
    report = importing.import_apply(
        parsed=parsed,
        options=_options(stash),
        actor_name=request.user.get_username(),
        file_name=stash["file_name"],
        resume=resume,
        seconds=IMPORT_STEP_SECONDS,
    )
    if not report.applied:
        stash["progress"] = _pack(report)
        cache.set(_key(token), stash, timeout=IMPORT_TTL)
        return HttpResponseRedirect(request.path)
    counts = report.counts
    audit_record(
        actor=request.user,
        action=AuditEntry.Action.IMPORT,
        object_repr=f"contacts (import {report.import_id})",
        detail={
            "import_id": report.import_id,
            "file_name": stash["file_name"],
            "rows": len(report.results),
            **counts,
            "mode": stash["mode"],
            "tags": stash["tags"],
            "mails_now": report.mails_now,
            "mails_later": report.mails_later,
        },
    )
    stash.update(result=_pack(report), progress=None, data=b"")  # the file is no longer needed
    cache.set(_key(token), stash, timeout=IMPORT_TTL)
    messages.success(
        request,
        f"Import done: {counts['created']:,} created, {counts['updated']:,} updated, "
        f"{counts['skipped']:,} skipped.",
    )
    return HttpResponseRedirect(done_url)


def import_done_view(model_admin: "ContactAdmin", request: HttpRequest, token: str) -> HttpResponse:
    if not model_admin.has_import_permission(request):
        raise PermissionDenied
    stash = _stash_get(request, token)
    if stash["result"] is None:
        return HttpResponseRedirect(reverse("admin:contacts_contact_import_preview", args=[token]))
    report = _unpack(stash["result"])
    context = _context(
        model_admin,
        request,
        title="Import applied",
        stash=stash,
        token=token,
        applied=True,
        **_report_context(report, request),
    )
    return TemplateResponse(request, "admin/contacts/contact/import_report.html", context)


def import_report_csv_view(
    model_admin: "ContactAdmin", request: HttpRequest, token: str
) -> HttpResponse:
    if not model_admin.has_import_permission(request):
        raise PermissionDenied
    stash = _stash_get(request, token)
    applied = stash["result"] is not None
    report = _unpack(stash["result"] if applied else stash["preview"])
    response = StreamingHttpResponse(
        exporting.csv_lines(
            ["line", "email", "outcome", "reason"], importing.report_csv_rows(report)
        ),
        content_type="text/csv; charset=utf-8",
    )
    kind = "result" if applied else "preview"
    response["Content-Disposition"] = f'attachment; filename="import-{kind}-{token[:8]}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# -- GDPR --------------------------------------------------------------------------------------


def gdpr_export_view(
    model_admin: "ContactAdmin", request: HttpRequest, object_id: str
) -> HttpResponse:
    if not model_admin.has_gdpr_export_permission(request):
        raise PermissionDenied
    contact_id = _contact_id(object_id)
    try:
        data = gdpr.contact_data_export(contact_id=contact_id, actor=request.user)
    except Contact.DoesNotExist as exc:
        raise Http404("No such contact.") from exc
    response = JsonResponse(data, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="contact-{contact_id}-data.json"'
    response["Cache-Control"] = "no-store"
    return response


def _contact_id(object_id: str) -> int:
    if not object_id.isdigit():
        raise Http404("No such contact.")
    return int(object_id)


def erase_view(model_admin: "ContactAdmin", request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what will go, and a button. POST: erase, then back to the list."""
    if not model_admin.has_erase_permission(request):
        raise PermissionDenied
    contact = Contact.objects.filter(pk=_contact_id(object_id)).first()
    if contact is None:
        messages.info(request, "That contact no longer exists (already erased?).")
        return HttpResponseRedirect(reverse("admin:contacts_contact_changelist"))
    if request.method == "POST":
        gdpr.contact_erase(contact_id=contact.pk, actor=request.user)
        messages.success(
            request,
            f"Contact #{contact.pk} erased. Only a hash of the address remains, on the "
            "suppression list, so it is never mailed again.",
        )
        return HttpResponseRedirect(reverse("admin:contacts_contact_changelist"))
    context = _context(
        model_admin,
        request,
        title="Erase this contact’s personal data?",
        contact=contact,
        summary=gdpr.contact_erase_summary(contact=contact),
        object=contact,
    )
    return TemplateResponse(request, "admin/contacts/contact/erase.html", context)


# -- Tags --------------------------------------------------------------------------------------


class TagPickForm(forms.Form):
    tag = forms.ModelChoiceField(queryset=Tag.objects.all(), required=False, label="Tag")
    new_tag = forms.CharField(
        required=False, max_length=importing.TAG_MAX_LENGTH, label="…or a new tag"
    )

    def __init__(self, *args: Any, allow_new: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not allow_new:
            del self.fields["new_tag"]
            self.fields["tag"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new = " ".join(str(data.get("new_tag") or "").split())
        if new and any(sep in new for sep in ",|"):
            self.add_error("new_tag", "A tag name can't contain a comma or a “|”.")
        elif not data.get("tag") and not new and "new_tag" in self.fields:
            raise forms.ValidationError("Pick a tag or type a new one.")
        data["new_tag"] = new
        return data


def tag_action(
    model_admin: "ContactAdmin", request: HttpRequest, queryset: QuerySet[Contact], *, remove: bool
) -> HttpResponse | None:
    """The intermediate page of "add a tag" / "remove a tag", then the bulk change."""
    form = TagPickForm(request.POST if "apply" in request.POST else None, allow_new=not remove)
    if form.is_valid():
        tag = form.cleaned_data.get("tag") or segments.tag_get_or_create(
            name=form.cleaned_data["new_tag"]
        )
        if remove:
            changed = segments.contacts_tag_remove(contacts=queryset, tag=tag)
            text = f"Tag “{tag}” removed from {changed:,} contact(s)."
        else:
            changed = segments.contacts_tag_add(contacts=queryset, tag=tag)
            text = f"Tag “{tag}” added to {changed:,} contact(s)."
        audit_record(
            actor=request.user,
            action=AuditEntry.Action.TAG,
            object_repr=f"tag #{tag.pk}",
            detail={"tag_id": tag.pk, "removed" if remove else "added": changed},
        )
        model_admin.message_user(request, text, messages.SUCCESS)
        return None
    context = _context(
        model_admin,
        request,
        title="Remove a tag" if remove else "Add a tag",
        form=form,
        count=queryset.count(),
        remove=remove,
        action=request.POST.get("action", ""),
        select_across=request.POST.get("select_across", "0"),
        selected=request.POST.getlist(ACTION_CHECKBOX_NAME),
        action_checkbox_name=ACTION_CHECKBOX_NAME,
        media=model_admin.media,
    )
    return TemplateResponse(request, "admin/contacts/contact/tag_action.html", context)
