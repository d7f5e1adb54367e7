"""CSV import: file formats, consent rules (never re-subscribe), idempotence, the admin flow."""

import codecs
import datetime as dt

from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import pytest

from contacts.exporting import contacts_csv_lines
from contacts.importing import (
    ImportFileError,
    ImportOptions,
    Mode,
    applying,
    deciding,
    import_apply,
    import_parse,
    import_preview,
)
from contacts.models import ConsentEvent, Contact, Subscription, Tag
from contacts.services import _confirmation_mail_create
from core.models import AuditEntry
from mailings.models import OutboundMail, Suppression
from mailings.services import suppression_add
from tests.unit.contacts.conftest import make_subscription

pytestmark = pytest.mark.django_db

DOI = ImportOptions(mode=Mode.DOUBLE_OPT_IN)
QUIET = ImportOptions(mode=Mode.NON_MAILABLE)
IMPORT = reverse("admin:contacts_contact_import")


def run(data: bytes | str, options: ImportOptions = DOI, **kwargs):
    raw = data.encode() if isinstance(data, str) else data
    parsed = import_parse(data=raw, encoding=kwargs.pop("encoding", "utf-8"))
    return import_apply(parsed=parsed, options=options, actor_name="tester", **kwargs)


def outcomes(report) -> dict[str, tuple[str, str]]:
    return {r.email: (r.outcome, r.reason) for r in report.results}


def state() -> tuple[int, ...]:
    """Everything an import could change, counted."""
    return (
        Contact.objects.count(),
        Subscription.objects.count(),
        ConsentEvent.objects.count(),
        OutboundMail.objects.count(),
        Contact.tags.through.objects.count(),
        Tag.objects.count(),
        Suppression.objects.count(),
    )


# -- File formats -------------------------------------------------------------------------------


def test_bom_semicolons_and_crlf():
    data = codecs.BOM_UTF8 + b"Email;Tags\r\nann@example.com;vip\r\nbob@example.com;\r\n"
    parsed = import_parse(data=data)
    assert parsed.delimiter == ";"
    assert parsed.columns == {"email": "Email", "tags": "Tags"}
    assert [(r.email, list(r.tags)) for r in parsed.rows] == [
        ("ann@example.com", ["vip"]),
        ("bob@example.com", []),
    ]
    assert [r.line for r in parsed.rows] == [2, 3]


def test_tabs_cr_only_quotes_blank_lines_and_ignored_columns():
    data = 'name\temail\n"Ann, ""A"" \nSmith"\tann@example.com\n\n\t\nx\tbob@example.com\r'
    parsed = import_parse(data=data.encode())
    assert parsed.delimiter == "\t"
    assert parsed.ignored_columns == ["name"]
    assert [r.email for r in parsed.rows] == ["ann@example.com", "bob@example.com"]
    assert import_parse(data=b"email\rann@example.com\rbob@example.com").rows[1].email == (
        "bob@example.com"
    )


def test_bad_utf8_rows_are_reported_and_skipped():
    data = b"email,tags\nann@example.com,caf\xe9\nbob@example.com,ok\nb\xffd@example.com,\n"
    parsed = import_parse(data=data)
    assert parsed.undecodable_rows == 2
    report = import_preview(parsed=parsed, options=DOI)
    results = {r.line: (r.outcome, r.reason) for r in report.results}
    assert results[2][0] == "skipped"
    assert "not valid UTF-8" in results[2][1]
    assert results[3][0] == "created"
    assert results[4][0] == "skipped"
    assert "\ufffd" in report.results[2].email  # shown with a replacement character
    # The same file read as Windows-1252 imports the accented tag.
    parsed = import_parse(data=data, encoding="cp1252")
    assert parsed.undecodable_rows == 0
    assert list(parsed.rows[0].tags.values()) == ["café"]


def test_whole_file_errors_are_clear():
    cases = {
        b"": "empty",
        b"PK\x03\x04rest-of-a-zip": "Excel workbook",
        b"name,phone\nann,123\n": "No email column",
        b"email\n": "no rows",
        b"email\n\x00\x00": "text file",
    }
    for data, message in cases.items():
        with pytest.raises(ImportFileError, match=message):
            import_parse(data=data)


def test_utf16_from_excel():
    data = "email\tnote\r\nann@example.com\tx\r\n".encode("utf-16")
    assert import_parse(data=data).rows[0].email == "ann@example.com"


def test_invalid_rows_get_a_reason():
    data = (
        "email,consented_at\nnot-an-address,\nann@example.com,yesterday\n"
        "bob@example.com,2999-01-01\ncid@mailinator.com,\n"
    )
    report = import_preview(parsed=import_parse(data=data.encode()), options=DOI)
    reasons = [r.reason for r in report.results]
    assert reasons[0].startswith("invalid address")
    assert "isn't a date" in reasons[1]
    assert "future" in reasons[2]
    assert "disposable" in reasons[3] or "permanent address" in reasons[3]
    assert not Contact.objects.exists()


# -- Consent rules -------------------------------------------------------------------------------


def test_rows_without_consent_enter_the_double_opt_in(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        report = run("email\nann@example.com\n")
    assert outcomes(report)["ann@example.com"][0] == "created"
    sub = Subscription.objects.select_related("contact").get()
    assert (sub.status, sub.form_name, sub.confirmed_at) == ("pending", "import", None)
    assert sub.last_confirmation_sent_at is not None
    event = ConsentEvent.objects.get()
    assert event.event == "import"
    assert "double opt-in" in event.detail
    assert "tester" in event.detail
    mail = OutboundMail.objects.get()
    assert (mail.to_email, mail.template) == ("ann@example.com", "confirm_subscription")
    assert mail.status == "sent"  # published after commit (eager in tests)
    assert report.mails_now == 1


def test_confirmation_mail_matches_the_signup_one():
    run("email\nann@example.com\n")
    imported = OutboundMail.objects.get()
    sub = Subscription.objects.select_related("contact").get()
    reference = _confirmation_mail_create(subscription=sub)
    for field in ("to_email", "template", "category", "unsubscribe_url"):
        assert getattr(imported, field) == getattr(reference, field), field
    assert imported.context == reference.context


def test_mail_volume_is_spread(settings):
    settings.CONTACTS_IMPORT_SEND_NOW = 2
    report = run("email\n" + "".join(f"r{i}@example.com\n" for i in range(5)))
    assert (report.mails_now, report.mails_later) == (2, 3)
    assert OutboundMail.objects.filter(enqueued_at__isnull=True, status="queued").count() == 3


def test_rows_without_consent_can_be_kept_unmailable():
    report = run("email\nann@example.com\n", QUIET)
    assert outcomes(report)["ann@example.com"][0] == "created"
    contact = Contact.objects.get()
    assert not Subscription.objects.exists()
    assert not OutboundMail.objects.exists()
    assert "not mailable" in ConsentEvent.objects.get(contact=contact).detail


def test_rows_with_a_consent_date_become_subscribers():
    run(
        "email,consented_at,consent_note\nann@example.com,2024-03-01,old list double opt-in\n"
        "bob@example.com,2024-03-02T10:00:00Z,\n",
        QUIET,
    )
    ann = Subscription.objects.get(contact__email="ann@example.com")
    assert ann.status == "confirmed"
    assert ann.confirmed_at == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    detail = ConsentEvent.objects.get(contact=ann.contact).detail
    assert "consent recorded 2024-03-01 (old list double opt-in)" in detail
    assert not OutboundMail.objects.exists()  # no welcome mail for migrated subscribers


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained", "suppressed"])
def test_never_resubscribes_those_who_left(status, django_capture_on_commit_callbacks):
    sub = make_subscription("ann@example.com", status)
    before = state()
    with django_capture_on_commit_callbacks(execute=True):
        report = run("email,consented_at,tags\nAnn@Example.com,2026-01-01,vip\n")
    outcome, reason = report.results[0].outcome, report.results[0].reason
    assert outcome == "skipped"
    # An admin's suppression is also on the suppression list, which is checked first.
    assert "never re-subscribes" in reason or "suppression list" in reason
    sub.refresh_from_db()
    assert sub.status == status
    assert state() == before


def test_suppressed_addresses_are_not_stored_at_all():
    suppression_add(email="ann@example.com", reason=Suppression.Reason.COMPLAINED)
    report = run("email,consented_at\nANN@example.com,2026-01-01\n")
    assert report.results[0].outcome == "skipped"
    assert "suppression list" in report.results[0].reason
    assert not Contact.objects.exists()


def test_refused_statuses_in_the_file():
    report = run("email,status\nann@example.com,Unsubscribed\nbob@example.com,subscribed\n")
    assert outcomes(report)["ann@example.com"][0] == "skipped"
    assert outcomes(report)["bob@example.com"][0] == "created"


def test_existing_contacts():
    pending = make_subscription("pending@example.com")
    confirmed = make_subscription("confirmed@example.com", "confirmed")
    run("email\nplain@example.com\n", QUIET)  # a contact without a subscription
    data = (
        "email,consented_at,tags\npending@example.com,2026-01-01,\n"
        "confirmed@example.com,,vip\nplain@example.com,2026-01-01,\n"
    )
    report = outcomes(run(data, QUIET))
    assert report["pending@example.com"] == (
        "skipped",
        "already awaiting confirmation: nothing to change",
    )
    assert report["confirmed@example.com"] == ("updated", "tags added (subscriber)")
    assert report["plain@example.com"] == ("updated", "subscribed (consent recorded)")
    pending.refresh_from_db()
    confirmed.refresh_from_db()
    assert pending.status == "pending"
    assert confirmed.status == "confirmed"
    assert list(confirmed.contact.tags.values_list("name", flat=True)) == ["vip"]


def test_duplicates_are_merged_on_the_normalized_address():
    data = (
        "email,tags,consented_at\nAnn@EXAMPLE.com,a,\n ann@example.com ,b|c,2025-05-05\n"
        "ann@example.COM,A,\n"
    )
    report = run(data, QUIET)
    assert [r.outcome for r in report.results] == ["created", "skipped", "skipped"]
    assert report.results[1].reason == "duplicate of line 2 (merged into it)"
    contact = Contact.objects.get()
    assert contact.email == "Ann@example.com"  # the local part as typed, domain lower-cased
    assert sorted(contact.tags.values_list("name", flat=True)) == ["a", "b", "c"]
    assert contact.subscription.status == "confirmed"  # consent from the second line


# -- Idempotence and preview ----------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(django_capture_on_commit_callbacks):
    make_subscription("left@example.com", "unsubscribed")
    data = (
        "email,consented_at,tags\nann@example.com,2026-01-01,vip\nbob@example.com,,\n"
        "cid@example.com,,news|vip\nleft@example.com,2026-01-01,\nbad,,\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = run(data, ImportOptions(mode=Mode.DOUBLE_OPT_IN, tags=("spring",)))
    assert first.counts == {"created": 3, "updated": 0, "skipped": 2}
    after_first = state()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = run(data, ImportOptions(mode=Mode.DOUBLE_OPT_IN, tags=("spring",)))
    assert second.counts == {"created": 0, "updated": 0, "skipped": 5}
    assert state() == after_first
    assert callbacks == []


def test_preview_writes_nothing_and_matches_the_apply():
    make_subscription("left@example.com", "unsubscribed")
    data = b"email,tags\nann@example.com,x\nleft@example.com,\nann@example.com,\n"
    before = state()
    preview = import_preview(parsed=import_parse(data=data), options=DOI)
    assert state() == before
    applied = run(data)
    assert [(r.outcome, r.reason) for r in preview.results] == [
        (r.outcome, r.reason) for r in applied.results
    ]


def test_export_then_import_round_trips():
    make_subscription("-minus@example.com", "confirmed")  # exported as '-minus@...
    make_subscription("bob@example.com")
    make_subscription("left@example.com", "unsubscribed")
    text = "".join(contacts_csv_lines(Contact.objects.all()))
    before = state()
    report = run(text)
    assert all(r.outcome == "skipped" for r in report.results), report.results
    assert state() == before


def test_batches(monkeypatch):
    # Patch the modules that look these names up: `_batches` reads deciding.BATCH_SIZE and
    # import_apply calls applying._apply_batch (the package attributes are only re-exports).
    monkeypatch.setattr(deciding, "BATCH_SIZE", 7)
    sizes = []
    apply_batch = applying._apply_batch

    def counted(batch, *args):
        sizes.append(len(batch))
        return apply_batch(batch, *args)

    monkeypatch.setattr(applying, "_apply_batch", counted)
    data = "email\n" + "".join(f"r{i}@example.com\n" for i in range(40))
    report = run(data, QUIET)
    assert sizes == [7, 7, 7, 7, 7, 5]
    assert report.counts["created"] == 40
    assert Contact.objects.count() == 40
    assert ConsentEvent.objects.count() == 40


def test_fifty_thousand_rows_parse():
    data = (
        "email,consented_at,tags\n"
        + "".join(f"reader{i}@example.com,2025-01-01,t{i % 5}\n" for i in range(50_000))
    ).encode()
    parsed = import_parse(data=data)
    assert len(parsed.rows) == 50_000


# -- The admin flow ------------------------------------------------------------------------------


def upload(client, data: bytes, **fields):
    payload = {
        "file": SimpleUploadedFile("list.csv", data, "text/csv"),
        "encoding": "utf-8",
        "mode": "double_opt_in",
        "tags": "",
        **fields,
    }
    return client.post(IMPORT, payload)


def test_admin_upload_preview_apply(admin_client, django_capture_on_commit_callbacks):
    make_subscription("left@example.com", "unsubscribed")
    data = b"email;tags\r\nann@example.com;vip\r\nleft@example.com;\r\n"
    response = upload(admin_client, codecs.BOM_UTF8 + data, tags="spring, 2026")
    assert response.status_code == 302
    preview_url = response["Location"]
    html = admin_client.get(preview_url).content.decode()
    assert "would" in html
    assert "Import 1 row" in html
    assert "never re-subscribes" in html
    assert not Contact.objects.filter(email="ann@example.com").exists()
    report_csv = b"".join(admin_client.get(preview_url + "report.csv").streaming_content)
    assert b"line,email,outcome,reason" in report_csv

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(preview_url)
    assert response.status_code == 302
    html = admin_client.get(response["Location"]).content.decode()
    assert "Import applied" in html
    contact = Contact.objects.get(email="ann@example.com")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["2026", "spring", "vip"]
    entry = AuditEntry.objects.get(action="import")
    assert entry.detail["created"] == 1
    assert entry.detail["skipped"] == 1
    assert "ann@" not in str(entry.detail)
    # Posting again (a reload) applies nothing twice.
    admin_client.post(preview_url)
    assert AuditEntry.objects.filter(action="import").count() == 1


def test_admin_upload_errors_are_shown(admin_client):
    html = upload(admin_client, b"PK\x03\x04zip").content.decode()
    assert "Excel workbook" in html
    html = upload(admin_client, b"email\nann@example.com\n", tags="x" * 60).content.decode()
    assert "longer than 50 characters" in html
    assert not Contact.objects.exists()


def test_import_needs_the_import_permission(client, admin_user):
    user = User.objects.create_user("m", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(user)
    assert client.get(IMPORT).status_code == 403
    assert upload(client, b"email\nann@example.com\n").status_code == 403
    assert (
        "Import CSV"
        not in client.get(reverse("admin:contacts_contact_changelist")).content.decode()
    )
    user.user_permissions.add(Permission.objects.get(codename="import_contact"))
    client.force_login(User.objects.get(pk=user.pk))
    response = upload(client, b"email\nann@example.com\n")
    assert response.status_code == 302
    # Another user can't use someone else's upload.
    other = User.objects.create_superuser("other", password="pw")
    client.force_login(other)
    assert client.get(response["Location"]).status_code == 404


def test_apply_in_time_boxed_steps(monkeypatch):
    monkeypatch.setattr(deciding, "BATCH_SIZE", 10)  # read by deciding._batches
    data = ("email\n" + "".join(f"r{i}@example.com\n" for i in range(25))).encode()
    parsed = import_parse(data=data)
    report = import_apply(parsed=parsed, options=QUIET, actor_name="t", seconds=0)
    assert (report.applied, report.next_row, len(report.results)) == (False, 10, 10)
    assert Contact.objects.count() == 10
    report = import_apply(parsed=parsed, options=QUIET, actor_name="t", seconds=0, resume=report)
    report = import_apply(parsed=parsed, options=QUIET, actor_name="t", seconds=0, resume=report)
    assert (report.applied, report.next_row) == (True, None)
    assert [r.line for r in report.results] == list(range(2, 27))
    assert report.counts["created"] == 25
    assert Contact.objects.count() == 25


def test_admin_apply_goes_on_step_by_step(admin_client, monkeypatch):
    from contacts import admin_tools

    monkeypatch.setattr(deciding, "BATCH_SIZE", 10)  # read by deciding._batches
    monkeypatch.setattr(admin_tools, "IMPORT_STEP_SECONDS", 0)
    data = ("email\n" + "".join(f"r{i}@example.com\n" for i in range(25))).encode()
    preview_url = upload(admin_client, data, mode="non_mailable")["Location"]
    assert admin_client.post(preview_url)["Location"] == preview_url
    html = admin_client.get(preview_url).content.decode()
    assert "10 of 25 rows done" in html
    assert "data-auto-continue" in html
    assert "import-continue.js" in html
    assert " style=" not in html
    admin_client.post(preview_url)
    response = admin_client.post(preview_url)
    assert response["Location"].endswith("/done/")
    assert Contact.objects.count() == 25
    entry = AuditEntry.objects.get(action="import")
    assert entry.detail["created"] == 25
    assert entry.detail["rows"] == 25
