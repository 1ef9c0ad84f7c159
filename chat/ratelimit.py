"""A per-user token bucket for posting, shared by every process through Redis when configured."""

import threading
import time
from functools import cache

from django.conf import settings

# KEYS[1] bucket; ARGV: rate per second, burst, now (ms). Returns ms to wait, 0 when taken.
_TAKE = """
local rate = tonumber(ARGV[1]) local burst = tonumber(ARGV[2]) local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


@cache
def _redis_script():
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(_TAKE)


_local_lock = threading.Lock()
_local_buckets: dict[str, tuple[float, float]] = {}


def _take_local(key: str, rate: float, burst: int, now: float) -> float:
    with _local_lock:
        tokens, at = _local_buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        _local_buckets[key] = (tokens, now)
        return wait


def take(key: str) -> float:
    """Take one token from the bucket `key`: 0 when allowed, else seconds to wait."""
    rate, burst = settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    if rate <= 0:
        return 0.0
    if settings.REDIS_URL:
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "parley")
        wait_ms = _redis_script()(
            keys=[f"{prefix}:rate:{key}"], args=[rate, burst, int(time.time() * 1000)]
        )
        return wait_ms / 1000
    return _take_local(key, rate, burst, time.monotonic())
