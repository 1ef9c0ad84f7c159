"""How many sockets each user has open, across processes (through the cache: Redis when set)."""

from django.conf import settings
from django.core.cache import cache

# A crashed process cannot decrement its counts; they expire after this long.
COUNT_TTL = 6 * 60 * 60


def _key(user_id: int) -> str:
    return f"sockets:{user_id}"


def socket_open(*, user_id: int) -> bool:
    """Count a new socket for the user; False (and not counted) when over the cap."""
    key = _key(user_id)
    cache.add(key, 0, COUNT_TTL)
    count = cache.incr(key)
    cache.touch(key, COUNT_TTL)
    if count > settings.CHAT_MAX_SOCKETS_PER_USER:
        cache.decr(key)
        return False
    return True


def socket_close(*, user_id: int) -> None:
    try:
        if cache.decr(_key(user_id)) < 0:
            cache.set(_key(user_id), 0, COUNT_TTL)
    except ValueError:
        pass  # the count expired meanwhile
