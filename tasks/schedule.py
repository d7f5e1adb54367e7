"""Beat schedule, as code (never intervals in the database). Loaded by tasks/celery.py."""

from celery.schedules import crontab

#: Every entry: cadence, and why. `expires` drops a run that a stalled beat queued long ago.
BEAT_SCHEDULE = {
    # Every minute: publish again mail rows whose enqueue was lost (broker down) or whose
    # worker died mid-send; sending claims rows, so a duplicate publish is harmless.
    "mailings-requeue-stuck": {
        "task": "mailings.mails_requeue_stuck",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
}
