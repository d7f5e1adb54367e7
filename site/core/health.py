"""/healthz: the process answers. /readyz: the database and the broker answer, quickly.

/readyz also reports each queue's heartbeat age (core.liveness) for information: a web process
stays ready while a worker is down (it still accepts forms, which wait as rows), so stale
heartbeats do not turn it 503; `manage.py health` is the check that fails on them.
"""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from core import liveness

CHECK_TIMEOUT = 2.0


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def broker_ok() -> bool:
    """PING the Redis broker over a short-timeout socket; 'not configured' counts as ready."""
    if not settings.REDIS_URL:
        return True
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
        )
        return bool(client.ping())
    except (TimeoutError, redis.RedisError, OSError):
        return False


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_ok(), "broker": broker_ok()}
    ok = all(checks.values())
    body: dict[str, object] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if checks["database"] and liveness.background_expected():
        body["heartbeats"] = {
            beat.name: {
                "age_seconds": None if beat.age_seconds is None else round(beat.age_seconds),
                "stale": beat.stale,
            }
            for beat in liveness.liveness_get()
        }
    return JsonResponse(body, status=200 if ok else 503)
