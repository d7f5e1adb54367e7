"""A send rate per ESP shared by every worker on every host: GCRA in one Redis Lua script.

GCRA (the generic cell rate algorithm) keeps one timestamp per key, the "theoretical arrival
time" (TAT) of the next message. Taking `cost` messages moves it `cost / rate` seconds on; a
caller whose new TAT would lie more than `burst` seconds ahead waits the difference. The script
reads Redis's own clock (TIME), so hosts with skewed clocks still share one schedule, and it
runs atomically, so concurrent workers never take the same slot.

Fails open: with Redis unreachable the limiter lets the batch go (logged). The ESP's own limit
still answers 429, which the batch path turns into a retry with backoff; failing closed would
stop all campaign mail on a blip of the cache, and the broker lives on the same Redis, so a
lasting outage stops the workers anyway.
"""

import logging
import threading

from django.conf import settings

import redis

logger = logging.getLogger(__name__)

#: KEYS[1] the bucket; ARGV: cost (messages), rate (per second), burst (seconds).
#: Returns the seconds to wait before sending (as a string: Lua numbers become integers), or
#: a negative number when the caller must not send at all (cost beyond the burst: retry).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local cost, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost / rate
local wait = new_tat - now - burst
if wait > burst + 60 then return '-1' end
redis.call('SET', KEYS[1], tostring(new_tat), 'EX', math.ceil(new_tat - now + 60))
if wait < 0 then wait = 0 end
return tostring(wait)
"""

_lock = threading.Lock()
_clients: dict[str, "redis.Redis"] = {}


def _client() -> "redis.Redis":
    url = settings.REDIS_URL
    with _lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(
                url, socket_timeout=1, socket_connect_timeout=1, health_check_interval=30
            )
        return _clients[url]


def send_rate_acquire(*, esp: str, cost: int, rate: float, burst: float = 1.0) -> float | None:
    """Reserve `cost` messages at `rate` per second for `esp`; return the seconds to wait first.

    None means "not now": the reservation would lie more than a minute ahead (the caller
    should put its work back and retry later). A rate of 0 or less means unlimited (0.0).
    Fails open (0.0) when Redis cannot be reached.
    """
    if rate <= 0 or not settings.REDIS_URL:
        return 0.0
    try:
        answer = _client().eval(_GCRA, 1, f"ch:mail-rate:{esp}", cost, rate, burst)
    except redis.RedisError:
        logger.warning("send-rate limiter unreachable: sending without it", exc_info=True)
        return 0.0
    wait = float(answer)
    return None if wait < 0 else wait
