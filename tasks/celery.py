"""The Celery app: `celery -A tasks worker` / `celery -A tasks beat`.

Tasks are thin: they take JSON ids, call one service from site/, and define the retry policy.
"""

import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT / "site") not in sys.path:
    sys.path.insert(0, str(_ROOT / "site"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

#: Time limits of the beat sweepers. A sweep is one bounded query and at most a few hundred
#: publishes, seconds in all; the soft limit (SoftTimeLimitExceeded inside the task) ends its
#: transaction cleanly well before the next run, and the hard limit, a little later, only frees
#: a pool process stuck on a dead socket. Every task sets soft < hard explicitly: Celery refuses
#: to publish a task whose soft limit (or the app-wide CELERY_TASK_SOFT_TIME_LIMIT it inherits)
#: exceeds its own hard limit, which is how beat once published no sweeper at all (issue 16).
SWEEP_SOFT_TIME_LIMIT = 100
SWEEP_TIME_LIMIT = 120

TASK_MODULES = ["tasks.core", "tasks.mailings", "tasks.ebooks", "tasks.contacts", "tasks.campaigns"]


def _patch_kombu_redis_channel_close() -> None:
    """Keep a worker alive when the Redis broker restarts with late-acked tasks running.

    kombu 5.7.0's Redis ``Channel.close()`` first reads the reply of the BRPOP it has in flight
    and catches only ``Empty``; with the broker gone that read raises a connection error and
    close() stops there: the channel is left open, its unacked messages unrestored, still
    attached to the Transport. The consumer's reconnect then calls ``Connection.collect()``,
    which sets ``transport.client = None``, and ``Connection.close()``, which closes that channel
    again: restoring the unacked messages builds a new pool from ``transport.client.hostname``
    and raises AttributeError, which is not a connection error, so the worker exits
    ("Unrecoverable error"). Any pool is affected when a BRPOP is pending; the mail worker's 32
    threads almost always have one. No setting avoids it. A connection error there means the
    reply went with the socket: treat it as ``Empty`` so close() finishes while the transport
    still has its client. Drop this once kombu's Channel.close() handles it (same family as
    celery/kombu#582 and #970).
    """
    from kombu.transport import redis as kombu_redis

    channel_cls = kombu_redis.Channel
    if getattr(channel_cls.close, "_drains_brpop_safely", False):
        return
    original_close = channel_cls.close

    def close(self: kombu_redis.Channel) -> None:
        if self._in_poll:
            try:
                self._brpop_read()
            except kombu_redis.Empty:
                pass
            except self.connection_errors:
                self._in_poll = None  # the pending BRPOP reply is lost with the connection
        original_close(self)

    close._drains_brpop_safely = True  # type: ignore[attr-defined]
    channel_cls.close = close  # type: ignore[method-assign]


_patch_kombu_redis_channel_close()

app = Celery("chapterhouse", include=TASK_MODULES)
app.config_from_object("django.conf:settings", namespace="CELERY")


@task_prerun.connect
@task_postrun.connect
def _close_old_db_connections(sender: object = None, **kwargs: object) -> None:
    """Around each task, what Django does around each request: close this thread's database
    connections that are broken or older than CONN_MAX_AGE (the rest are kept, and checked
    before their next use when CONN_HEALTH_CHECKS is on). Not for eager tasks, which run inside
    their caller's transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


def _load_schedule() -> None:
    from tasks.schedule import BEAT_SCHEDULE

    app.conf.beat_schedule = BEAT_SCHEDULE


_load_schedule()
