"""Login throttling for staff sign-in: failures per username and per IP, then a cool-off.

Counters live in the cache (Redis in production), keyed by hashes (no username or IP in a
key). Each username may fail LOGIN_FAILURE_LIMIT times and each IP LOGIN_FAILURE_LIMIT_PER_IP
times within LOGIN_FAILURE_WINDOW seconds; the next failure starts a cool-off of
LOGIN_COOLOFF_SECONDS during which that username (or IP) cannot sign in at all, even with the
right password. A cool-off always ends by itself: there is no permanent lockout, and a
success clears the username's count. With the cache unreachable the throttle fails open and
logs a warning (the password and, in production, the second factor still stand).
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_PREFIX = "login-throttle"


@dataclass(frozen=True)
class _Subject:
    kind: str  # "user" or "ip"
    digest: str
    limit: int

    @property
    def count_key(self) -> str:
        return f"{_PREFIX}:count:{self.kind}:{self.digest}"

    @property
    def lock_key(self) -> str:
        return f"{_PREFIX}:lock:{self.kind}:{self.digest}"


def _now() -> float:
    return time.time()


def _digest(value: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{value}".encode()).hexdigest()[:24]


def _subjects(*, username: str, ip: str | None) -> list[_Subject]:
    subjects = []
    name = (username or "").strip().lower()
    if name:
        subjects.append(_Subject("user", _digest(f"user:{name}"), settings.LOGIN_FAILURE_LIMIT))
    if ip:
        subjects.append(_Subject("ip", _digest(f"ip:{ip}"), settings.LOGIN_FAILURE_LIMIT_PER_IP))
    return [s for s in subjects if s.limit > 0]


def login_cooloff_remaining(*, username: str, ip: str | None) -> int | None:
    """Seconds until this username and IP may try to sign in again, or None if they may now.

    None as well when the cache is unreachable (fail open, logged).
    """
    now = _now()
    try:
        locks = cache.get_many([s.lock_key for s in _subjects(username=username, ip=ip)])
    except Exception:
        logger.warning("login throttle: cache unavailable, not checking cool-offs")
        return None
    until = max((float(v) for v in locks.values() if isinstance(v, int | float)), default=0.0)
    return math.ceil(until - now) if until > now else None


def login_failure_record(*, username: str, ip: str | None) -> int | None:
    """Count one failed sign-in; return the cool-off in seconds if this failure started one."""
    window = max(1, settings.LOGIN_FAILURE_WINDOW)
    cooloff = max(1, settings.LOGIN_COOLOFF_SECONDS)
    started = None
    try:
        for subject in _subjects(username=username, ip=ip):
            cache.add(subject.count_key, 0, timeout=window)
            try:
                count = cache.incr(subject.count_key)
            except ValueError:  # expired between add and incr: this failure is the first
                cache.set(subject.count_key, 1, timeout=window)
                count = 1
            if count >= subject.limit:
                cache.set(subject.lock_key, _now() + cooloff, timeout=cooloff)
                cache.delete(subject.count_key)  # after the cool-off: a full set of tries
                logger.warning(
                    "login throttle: %s %s… reached %s failures; cooling off for %s s",
                    subject.kind, subject.digest[:8], count, cooloff,
                )  # fmt: skip
                started = cooloff
    except Exception:
        logger.warning("login throttle: cache unavailable, failure not counted")
        return None
    return started


def login_success_record(*, username: str) -> None:
    """A successful sign-in clears the username's failure count (not the IP's)."""
    try:
        for subject in _subjects(username=username, ip=None):
            cache.delete(subject.count_key)
    except Exception:
        logger.warning("login throttle: cache unavailable, count not cleared")
