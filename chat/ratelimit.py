"""Token buckets: one per user for posting, shared by every process through Redis when
configured, and a budget per user and frame type for every other socket frame, kept in the
process (cheap; with the per-user socket cap it bounds what one user can ask of a process)."""

import logging
import threading
import time

from django.conf import settings
from redis.exceptions import RedisError

from realtime.redis_client import redis_client, redis_key

logger = logging.getLogger(__name__)

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


_local_lock = threading.Lock()
_local_buckets: dict[str, tuple[float, float]] = {}
# Past this many buckets, those untouched for IDLE seconds (full again by then, whatever their
# budget) are dropped, so a long-running process does not keep one per user it ever saw.
_LOCAL_BUCKETS_MAX = 20_000
_IDLE = 60


def _take_local(key: str, rate: float, burst: int, now: float) -> float:
    with _local_lock:
        if len(_local_buckets) > _LOCAL_BUCKETS_MAX:
            for stale in [k for k, (_, at) in _local_buckets.items() if now - at > _IDLE]:
                del _local_buckets[stale]
        tokens, at = _local_buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        _local_buckets[key] = (tokens, now)
        return wait


# Frames per second and burst for each socket frame type but `send` (which takes from the shared
# posting bucket). A reconnect syncs every room with a gap, hence sync's large burst.
FRAME_BUDGETS = {
    "typing": (2, 6),
    "history": (5, 30),
    "sync": (20, 200),
    "read": (10, 60),
    "edit": (2, 10),
    "delete": (2, 10),
    "react": (5, 20),
    "unreact": (5, 20),
    "ping": (2, 10),
    "activity": (1, 10),
    "presence": (2, 20),
    "receipts": (5, 30),
    "card": (5, 20),
    "rooms": (2, 10),
    "members": (5, 30),
}


def take_frame(*, user_id: int, frame_type: str) -> float:
    """Take one frame of `frame_type` from the user's budget in this process: 0 when allowed,
    else seconds to wait. Off, like posting limits, when CHAT_RATE_PER_SECOND is 0."""
    budget = FRAME_BUDGETS.get(frame_type)
    if budget is None or settings.CHAT_RATE_PER_SECOND <= 0:
        return 0.0
    rate, burst = budget
    return _take_local(f"frame:{frame_type}:{user_id}", rate, burst, time.monotonic())


def take(key: str) -> float:
    """Take one token from the bucket `key`: 0 when allowed, else seconds to wait."""
    rate, burst = settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST
    if rate <= 0:
        return 0.0
    if settings.REDIS_URL:
        try:
            wait_ms = redis_client().register_script(_TAKE)(
                keys=[redis_key(f"rate:{key}")], args=[rate, burst, int(time.time() * 1000)]
            )
        except RedisError:
            # Fail open, by choice: while Redis is down a user may post faster than the limit
            # (the per-process frame budgets and socket cap still hold); refusing would lose
            # every message of everyone until Redis is back.
            logger.warning("rate limit unavailable (Redis); allowing %s", key, exc_info=True)
            return 0.0
        return wait_ms / 1000
    return _take_local(key, rate, burst, time.monotonic())
