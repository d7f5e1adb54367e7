"""Liveness of the background processes: heartbeats written by tasks, read by ops tools.

Beat publishes `core.heartbeat` to each queue every minute (tasks/schedule.py); the worker
that consumes it upserts a `Heartbeat` row. A row older than HEARTBEAT_STALE_AFTER means beat
or every worker of that queue has stopped (or the broker is down): the sweepers that recover
lost work run the same way, so that is also "nothing is being swept". Read by
`manage.py health`, `/readyz` (for information) and the admin dashboard's notice.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core.models import Heartbeat

#: The queues a deployment runs (Procfile: worker, worker_mail, worker_pdf).
QUEUES = ("default", "mail", "pdf")


@dataclass(frozen=True)
class Liveness:
    name: str
    seen_at: datetime | None
    age_seconds: float | None
    stale: bool


def heartbeat_record(*, name: str) -> None:
    """Upsert `name`'s heartbeat to now (one statement; safe from many workers at once)."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, seen_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["seen_at"],
    )


def liveness_get(*, now: datetime | None = None) -> list[Liveness]:
    """Each queue's heartbeat with its age; `stale` when missing or older than the setting."""
    now = now or timezone.now()
    seen = dict(Heartbeat.objects.values_list("name", "seen_at"))
    result = []
    for queue in QUEUES:
        name = f"worker:{queue}"
        seen_at = seen.get(name)
        age = (now - seen_at).total_seconds() if seen_at else None
        stale = age is None or age > settings.HEARTBEAT_STALE_AFTER
        result.append(Liveness(name=name, seen_at=seen_at, age_seconds=age, stale=stale))
    return result


def background_expected() -> bool:
    """Whether beat and workers are meant to run (without a broker, tasks run in-process)."""
    return bool(settings.REDIS_URL)
