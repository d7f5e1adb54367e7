"""eBook tasks: render a guide's current version once; deliver "Get the PDF" requests;
re-publish lost deliveries; prune superseded versions.

CELERY_TASK_ROUTES sends `ebooks.*` to the `pdf` queue, consumed by the `worker_pdf`
process (`celery -A tasks worker -Q pdf --concurrency 1 --max-tasks-per-child 50`, see the
Procfile): renders are CPU- and memory-heavy (≈ 170 MB peak RSS, bench/ebook) and must not
hold up mail or sign-ups. Without REDIS_URL tasks run eagerly, in-process.
"""

from django.conf import settings

from celery.signals import worker_init

from ebooks import services as ebook_services
from tasks.celery import SWEEP_SOFT_TIME_LIMIT, SWEEP_TIME_LIMIT, app


@worker_init.connect(weak=False)
def _import_weasyprint(**kwargs: object) -> None:
    """Import WeasyPrint (≈ 0.7 s) in the worker's main process, before the pool forks.

    Not at module level: web processes import this module to enqueue, and must not load it.
    """
    from ebooks import render  # noqa: F401


@app.task(
    name="ebooks.ebook_render",
    autoretry_for=(ebook_services.EbookBusyError,),
    retry_backoff=10,
    retry_backoff_max=120,
    max_retries=5,
    acks_late=True,
    soft_time_limit=settings.EBOOK_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.EBOOK_TASK_TIME_LIMIT,
)
def ebook_render(guide_slug: str, force: bool = False) -> str:
    """Ensure the guide's current eBook exists (render at most once); return its storage name.

    Idempotent and single-flight: safe to enqueue from many requests and to redeliver.
    Retries while another process holds the render lock; a render error fails the task.
    """
    return ebook_services.ebook_get_or_render(guide_slug=guide_slug, force=force).name


# Pruning lists and deletes a few files per superseded version: far below a minute.
@app.task(name="ebooks.ebooks_prune", acks_late=True, soft_time_limit=240, time_limit=300)
def ebooks_prune(keep_days: int | None = None) -> int:
    """Delete eBook versions superseded more than EBOOK_KEEP_DAYS ago; return the file count."""
    days = settings.EBOOK_KEEP_DAYS if keep_days is None else keep_days
    return len(ebook_services.ebook_prune(keep_days=days))


@app.task(
    name="ebooks.ebook_deliver",
    autoretry_for=(ebook_services.EbookBusyError,),
    retry_backoff=10,
    retry_backoff_max=120,
    max_retries=5,
    acks_late=True,
    soft_time_limit=settings.EBOOK_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.EBOOK_TASK_TIME_LIMIT,
)
def ebook_deliver(request_id: int) -> str:
    """Render the request's eBook if needed (single-flight), then queue its delivery mail.

    Idempotent: a request that already has its mail is left alone, so redelivery and the
    sweeper's duplicates are harmless. Retries while another process holds the render lock.
    """
    return ebook_services.ebook_request_deliver(request_id=request_id)


@app.task(
    name="ebooks.ebook_requests_requeue_stuck",
    acks_late=True,
    soft_time_limit=SWEEP_SOFT_TIME_LIMIT,
    time_limit=SWEEP_TIME_LIMIT,
)
def ebook_requests_requeue_stuck() -> int:
    """Sweeper: publish again eBook requests whose delivery task was lost or died."""
    return ebook_services.ebook_requests_requeue_stuck()
