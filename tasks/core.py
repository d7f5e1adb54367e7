from tasks.celery import SWEEP_SOFT_TIME_LIMIT, SWEEP_TIME_LIMIT, app


@app.task(name="core.ping", acks_late=True, soft_time_limit=10, time_limit=15)
def ping(value: str) -> str:
    """Round-trip probe used by /readyz tooling and the worker integration test."""
    from django.core.cache import cache

    cache.set(f"ping:{value}", "pong", timeout=60)
    return "pong"


@app.task(name="core.heartbeat", acks_late=True, soft_time_limit=10, time_limit=15)
def heartbeat(queue: str) -> None:
    """Record that beat published, and a worker on `queue` consumed, this minute's heartbeat."""
    from core import liveness

    liveness.heartbeat_record(name=f"worker:{queue}")


@app.task(
    name="core.submission_process",
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=4,
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def submission_process(submission_id: int) -> str:
    """Act on one accepted public form (signup, "Get the PDF") and delete it; idempotent.

    Retries a few times with backoff on any error (a database hiccup); after that the row
    waits for the sweeper, which stops at SUBMISSION_MAX_ATTEMPTS.
    """
    from core import intake

    return intake.submission_process(submission_id=submission_id)


@app.task(name="core.submissions_drain", acks_late=True, soft_time_limit=240, time_limit=300)
def submissions_drain() -> int:
    """Act on the accepted forms waiting in the database (published when one arrives)."""
    from core import intake

    return intake.submissions_drain()


@app.task(
    name="core.submissions_requeue_stuck",
    acks_late=True,
    soft_time_limit=SWEEP_SOFT_TIME_LIMIT,
    time_limit=SWEEP_TIME_LIMIT,
)
def submissions_requeue_stuck() -> int:
    """Sweeper: publish again accepted forms whose task was lost or whose worker died."""
    from core import intake

    return intake.submissions_requeue_stuck()
