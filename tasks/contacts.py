from contacts import services as contact_services
from tasks.celery import app


@app.task(name="contacts.contacts_purge_unconfirmed", acks_late=True, time_limit=900)
def contacts_purge_unconfirmed() -> int:
    """Retention: delete never-confirmed signups (and their IPs) past the retention period."""
    return contact_services.contacts_purge_unconfirmed()


@app.task(name="contacts.subscriptions_sync_suppressions", acks_late=True, time_limit=300)
def subscriptions_sync_suppressions() -> int:
    """Mark subscriptions bounced/complained from mailings' suppression list."""
    return contact_services.subscriptions_sync_suppressions()
