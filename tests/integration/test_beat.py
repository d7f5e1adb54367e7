"""Beat can publish every entry of its schedule, and every task can be published at all.

The sweepers are what recovers work a broker outage dropped; a schedule entry that Celery
refuses to publish fails silently in a deployment (beat logs an error every minute and goes
on), so these tests publish through beat's own scheduler to the real Redis broker.
The real `celery beat` process runs in tests/integration/test_processes.py.
"""

import json
import os

import pytest
import redis

pytestmark = [pytest.mark.integration]


def _queued_task_names(client: redis.Redis, queues: list[str]) -> list[str]:
    names = []
    for queue in queues:
        for raw in client.lrange(queue, 0, -1):
            names.append(json.loads(raw)["headers"]["task"])
    return names


def test_every_task_has_a_soft_limit_below_its_hard_limit_and_the_visibility_timeout():
    """Celery refuses to publish a task whose soft limit exceeds its hard limit; a hard limit
    above the broker's visibility timeout would get a running task delivered twice."""
    from django.conf import settings

    from tasks.celery import app

    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    wrong = {
        name: (task.soft_time_limit, task.time_limit)
        for name, task in ours.items()
        if not (task.soft_time_limit and task.time_limit)
        or not task.soft_time_limit < task.time_limit < visibility
    }
    assert ours
    assert wrong == {}


def test_beats_scheduler_publishes_every_entry_to_redis(real_broker):
    """One tick's worth: every schedule entry goes through beat's own `apply_async` (which
    raises SchedulingError where beat would only log it) and lands on its queue in Redis."""
    from celery.beat import Scheduler

    from tasks.celery import app
    from tasks.schedule import BEAT_SCHEDULE

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    queues = ["default", "mail", "pdf"]
    client.delete(*queues)
    scheduler = Scheduler(app, lazy=True)
    scheduler.setup_schedule()
    entries = [scheduler.schedule[name] for name in BEAT_SCHEDULE]
    try:
        with app.producer_or_acquire() as producer:
            for entry in entries:
                scheduler.apply_async(entry, producer=producer, advance=False)
        published = _queued_task_names(client, queues)
    finally:
        client.delete(*queues)
    assert sorted(published) == sorted(entry["task"] for entry in BEAT_SCHEDULE.values())
