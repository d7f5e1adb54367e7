"""Contact.inbox_hash: one index lookup for per-inbox limits (all +tag variants), filled in
for existing contacts."""

from django.db import migrations, models


def fill_inbox_hash(apps, schema_editor) -> None:
    from core.emailaddr import inbox_hash

    contact_model = apps.get_model("contacts", "Contact")
    batch = []
    for contact in contact_model.objects.filter(inbox_hash="").only("pk", "email").iterator(2000):
        contact.inbox_hash = inbox_hash(contact.email)
        batch.append(contact)
        if len(batch) == 2000:
            contact_model.objects.bulk_update(batch, ["inbox_hash"])
            batch = []
    contact_model.objects.bulk_update(batch, ["inbox_hash"])


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_attribution_verbose_names")]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="inbox_hash",
            field=models.CharField(db_index=True, default="", editable=False, max_length=64),
        ),
        migrations.RunPython(fill_inbox_hash, migrations.RunPython.noop, elidable=True),
    ]
