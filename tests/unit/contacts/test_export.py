"""CSV export: streamed, RFC 4180, formula-safe in every column, permission, audit log.
Also the audit log itself (core.AuditEntry): append-only and read-only in the admin."""

import csv
import io

from django.contrib.auth.models import Permission, User
from django.http import StreamingHttpResponse
from django.urls import reverse

import pytest

from contacts.exporting import COLUMNS, FORMULA_PREFIXES, contacts_csv_lines, csv_safe
from contacts.models import Contact, Subscription, Tag
from core.audit import audit_record
from core.models import AuditEntry
from mailings.models import email_hash
from tests.unit.contacts.conftest import make_subscription

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")
EXPORT = reverse("admin:contacts_contact_export")


def rows_of(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def hostile_contact() -> Contact:
    """A contact whose every text column starts with a formula character."""
    email = "-2+3@example.com"
    contact = Contact.objects.create(email=email, email_hash=email_hash(email))
    Subscription.objects.create(
        contact=contact,
        status="confirmed",
        guide_slug="=guide",
        form_name="+form",
        page_path="@SUM(A1)",
        referrer="\tref",
        utm_source='=HYPERLINK("http://x")',
        utm_medium="+1",
        utm_campaign="-1",
        utm_term="@x",
        utm_content="\rcr",
    )
    contact.tags.add(Tag.objects.create(name="=cmd|' /C calc'!A0"))
    return contact


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_csv_safe_neutralises_each_prefix(prefix):
    assert csv_safe(f"{prefix}1+1") == f"'{prefix}1+1"
    assert csv_safe(f"a{prefix}") == f"a{prefix}"
    assert csv_safe(None) == ""


def test_every_column_is_neutralised():
    hostile_contact()
    lines = list(contacts_csv_lines(Contact.objects.all()))
    rows = list(csv.reader(io.StringIO("".join(lines), newline="")))
    assert rows[0] == list(COLUMNS)
    for cell in rows[1]:
        assert not cell.startswith(FORMULA_PREFIXES), cell
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert row["email"] == "'-2+3@example.com"
    assert row["utm_source"] == '\'=HYPERLINK("http://x")'
    assert row["referrer"] == "'\tref"
    assert row["tags"] == "'=cmd|' /C calc'!A0"


def test_rfc4180_crlf_and_quoting():
    contact = hostile_contact()
    contact.subscription.page_path = 'a "quoted", \r\nmulti-line path'
    contact.subscription.save(update_fields=["page_path"])
    text = "".join(contacts_csv_lines(Contact.objects.all()))
    assert text.endswith("\r\n")
    assert text.count("\r\n") == 3  # header, row (with an embedded CRLF inside quotes)
    assert '"a ""quoted"", \r\nmulti-line path"' in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1][COLUMNS.index("page_path")] == 'a "quoted", \r\nmulti-line path'


def test_export_all_filtered_streams_with_audit(admin_client):
    make_subscription("ann@example.com", "confirmed")
    make_subscription("bob@example.com")
    response = admin_client.get(EXPORT, {"subscription__status": "confirmed", "q": "ann@"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = rows_of(response)
    assert [r[0] for r in rows[1:]] == ["ann@example.com"]
    entry = AuditEntry.objects.get()
    assert entry.action == "export"
    assert entry.actor_name == "admin"
    assert entry.detail["rows"] == 1
    assert entry.detail["scope"] == "filtered"
    assert entry.detail["filters"]["subscription__status"] == "confirmed"
    assert "ann" not in str(entry.detail)  # the search term is redacted


def test_export_link_carries_the_changelist_filters(admin_client):
    make_subscription("ann@example.com", "confirmed")
    html = admin_client.get(CHANGELIST, {"subscription__status": "confirmed"}).content.decode()
    assert f"{EXPORT}?subscription__status=confirmed" in html
    assert "Export these contacts (CSV)" in html
    assert "Export all contacts (CSV)" in admin_client.get(CHANGELIST).content.decode()


def test_export_selected_action(admin_client):
    ann = make_subscription("ann@example.com", "confirmed").contact
    make_subscription("bob@example.com")
    response = admin_client.post(
        CHANGELIST, {"action": "export_selected", "_selected_action": [ann.pk]}
    )
    assert [r[0] for r in rows_of(response)[1:]] == ["ann@example.com"]
    entry = AuditEntry.objects.get()
    assert (entry.detail["scope"], entry.detail["rows"]) == ("selection", 1)


def test_export_reads_in_chunks_with_a_bounded_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    for i in range(30):
        make_subscription(f"r{i}@example.com").contact.tags.add(
            Tag.objects.get_or_create(name=f"t{i % 3}")[0]
        )
    with django_assert_max_num_queries(12):
        rows = rows_of(admin_client.get(EXPORT))
    assert len(rows) == 31
    assert {r[-1] for r in rows[1:]} == {"t0", "t1", "t2"}


def test_export_needs_the_export_permission(client):
    make_subscription("ann@example.com")
    user = User.objects.create_user("m", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(user)
    assert client.get(EXPORT).status_code == 403
    html = client.get(CHANGELIST).content.decode()
    assert "export_selected" not in html
    assert "Export all contacts" not in html
    response = client.post(
        CHANGELIST, {"action": "export_selected", "_selected_action": [Contact.objects.get().pk]}
    )
    assert not isinstance(response, StreamingHttpResponse)
    assert not AuditEntry.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="export_contact"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(EXPORT).status_code == 200
    assert AuditEntry.objects.count() == 1


# -- The audit log ----------------------------------------------------------------------------


def test_audit_log_is_append_only(admin_user):
    entry = audit_record(actor=admin_user, action="export", detail={"rows": 3})
    assert (entry.actor, entry.actor_name) == (admin_user, "admin")
    entry.object_repr = "changed"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditEntry.objects.update(action="x")
    # A deleted user leaves its name behind.
    admin_user.delete()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_name) == (None, "admin")


def test_audit_log_is_read_only_in_the_admin(admin_client, admin_user):
    entry = audit_record(actor=admin_user, action="gdpr_erase", object_repr="contact #1")
    changelist = reverse("admin:core_auditentry_changelist")
    html = admin_client.get(changelist).content.decode()
    assert "contact #1" in html
    assert "delete_selected" not in html
    assert (
        admin_client.get(reverse("admin:core_auditentry_delete", args=[entry.pk])).status_code
        == 403
    )
    response = admin_client.post(
        reverse("admin:core_auditentry_change", args=[entry.pk]), {"action": "x"}
    )
    assert response.status_code == 403
    assert AuditEntry.objects.get().action == "gdpr_erase"
    audit_record(actor=None, action="delete")
    assert AuditEntry.objects.filter(actor_name="").count() == 1
