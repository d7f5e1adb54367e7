from contacts import services as contact_services
from tasks.celery import app


# Deletes in bounded batches; a large backlog may take minutes, and what is left waits a day.
@app.task(
    name="contacts.contacts_purge_unconfirmed", acks_late=True, soft_time_limit=840, time_limit=900
)
def contacts_purge_unconfirmed() -> int:
    """Retention: delete never-confirmed signups (and their IPs) past the retention period."""
    return contact_services.contacts_purge_unconfirmed()


# One UPDATE … FROM per status: seconds even on a large list.
@app.task(
    name="contacts.subscriptions_sync_suppressions",
    acks_late=True,
    soft_time_limit=240,
    time_limit=300,
)
def subscriptions_sync_suppressions() -> int:
    """Mark subscriptions bounced/complained from mailings' suppression list."""
    return contact_services.subscriptions_sync_suppressions()
