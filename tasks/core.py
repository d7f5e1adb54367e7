from tasks.celery import app


@app.task(name="core.ping", acks_late=True)
def ping(value: str) -> str:
    """Round-trip probe used by /readyz tooling and the worker integration test."""
    from django.core.cache import cache

    cache.set(f"ping:{value}", "pong", timeout=60)
    return "pong"
