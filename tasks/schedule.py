"""Beat schedule, as code (never intervals in the database). Loaded by tasks/celery.py."""

from celery.schedules import crontab

#: Every entry: cadence, and why. `expires` drops a run that a stalled beat queued long ago.
BEAT_SCHEDULE = {
    # Every minute, one per queue: liveness (core.liveness). A worker of that queue records
    # the heartbeat, so a stale one means beat, the broker or that queue's workers stopped;
    # `manage.py health`, /readyz and the admin dashboard report it.
    **{
        f"core-heartbeat-{queue}": {
            "task": "core.heartbeat",
            "schedule": crontab(minute="*"),
            "args": [queue],
            "options": {"expires": 50, "queue": queue},
        }
        for queue in ("default", "mail", "pdf")
    },
    # Every minute: publish again accepted forms (signups, "Get the PDF") whose enqueue was
    # lost or whose worker died; processing locks and deletes the row, so a duplicate is a no-op.
    "core-submissions-requeue-stuck": {
        "task": "core.submissions_requeue_stuck",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Every minute: publish again mail rows whose enqueue was lost (broker down) or whose
    # worker died mid-send; sending claims rows, so a duplicate publish is harmless.
    "mailings-requeue-stuck": {
        "task": "mailings.mails_requeue_stuck",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Every 5 minutes: publish again "Get the PDF" requests still undelivered
    # EBOOK_REQUEUE_AFTER seconds after their last publish (enqueue lost with the broker down,
    # or the pdf worker died mid-render); delivery is idempotent, so a duplicate is harmless.
    # On the default queue: the sweep is a quick query and must not wait behind renders.
    "ebooks-requeue-stuck": {
        "task": "ebooks.ebook_requests_requeue_stuck",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240, "queue": "default"},
    },
    # Every 5 minutes: publish again the fan-out of campaigns stuck in "sending" (no batch for
    # 10 minutes: a publish lost with the broker down); a duplicate run is harmless.
    "campaigns-resume-stuck": {
        "task": "campaigns.campaigns_resume_stuck",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # Every minute: start scheduled campaigns whose send time has come (one indexed query on
    # the partial index `campaign_due`); "send at" is a row, never a Celery ETA, which could
    # outlive the broker's visibility timeout. Starting is idempotent (row lock + status).
    "campaigns-start-due": {
        "task": "campaigns.campaigns_start_due",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Daily at 04:41 UTC: delete eBook PDFs superseded by a newer content version more than
    # EBOOK_KEEP_DAYS ago (links mailed before the change keep working until then).
    "ebooks-prune": {
        "task": "ebooks.ebooks_prune",
        "schedule": crontab(hour="4", minute="41"),
        "options": {"expires": 3600},
    },
    # Daily at 03:17 UTC (a quiet hour, off the top of the hour): delete signups never
    # confirmed within CONTACTS_UNCONFIRMED_RETENTION_DAYS, with their IPs (data minimisation).
    "contacts-purge-unconfirmed": {
        "task": "contacts.contacts_purge_unconfirmed",
        "schedule": crontab(hour="3", minute="17"),
        "options": {"expires": 3600},
    },
    # Every 10 minutes: mirror bounces/complaints from mailings' suppression list onto
    # subscription status, so the admin's status filter tells the truth (sending already
    # checks suppression itself, so a lag here never sends a mail).
    "contacts-sync-suppressions": {
        "task": "contacts.subscriptions_sync_suppressions",
        "schedule": crontab(minute="*/10"),
        "options": {"expires": 540},
    },
}
