"""The only seam between site/ and tasks/: enqueue helpers with lazy imports.

Each helper is called after the database commit that created the row it names. Publishing
is bounded (a few seconds at most with the broker down) and never raises into the request:
the row is already committed and the sweeper re-enqueues it later.
"""

import logging
from typing import Any

logger = logging.getLogger(__name__)


def _publish(task_path: str, *args: Any) -> bool:
    """Send a task by import path; log and return False when the broker is unreachable."""
    from django.utils.module_loading import import_string

    task = import_string(task_path)
    try:
        task.apply_async(args=args, retry=False)
    except Exception:  # broker down or misconfigured: the sweeper will retry from the DB
        logger.warning("enqueue failed for %s; left for the sweeper", task_path, exc_info=True)
        return False
    return True


def preload() -> None:
    """Import the Celery app and every task module now (gunicorn's master, before forking).

    Otherwise each web worker pays the import (≈ 1 s) on its first publish, and again after
    every `max_requests` recycle, while requests wait behind it.
    """
    from django.utils.module_loading import import_string

    app = import_string("tasks.celery.app")
    app.loader.import_default_modules()
    app.connection_for_write().get_transport_cls()  # imports the broker's transport; no socket


def enqueue_ping(value: str) -> bool:
    return _publish("tasks.core.ping", value)


def enqueue_submission_process(submission_id: int) -> bool:
    return _publish("tasks.core.submission_process", submission_id)


def enqueue_submissions_drain() -> bool:
    return _publish("tasks.core.submissions_drain")


def enqueue_mail_send(mail_id: int) -> bool:
    return _publish("tasks.mailings.mail_send", mail_id)


def enqueue_mail_send_batch(mail_ids: list[int]) -> bool:
    return _publish("tasks.mailings.mails_send_batch", mail_ids)


def enqueue_ebook_render(guide_slug: str) -> bool:
    return _publish("tasks.ebooks.ebook_render", guide_slug)


def enqueue_ebook_rebuild(guide_slug: str) -> bool:
    return _publish("tasks.ebooks.ebook_render", guide_slug, True)


def enqueue_ebook_deliver(request_id: int) -> bool:
    return _publish("tasks.ebooks.ebook_deliver", request_id)


def enqueue_campaign_fan_out(campaign_id: int) -> bool:
    return _publish("tasks.campaigns.campaign_fan_out", campaign_id)
