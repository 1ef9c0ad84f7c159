"""The Redis clients of a process for Parley's own keys (revocation markers, rate limits, socket
counts); the channel layer and the cache keep their own connections."""

import asyncio
from functools import cache

from django.conf import settings


def redis_client():
    """A client for REDIS_URL (a pool underneath: safe from any thread)."""
    return _client(settings.REDIS_URL)


@cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, health_check_interval=30)


_async_clients: dict[tuple[asyncio.AbstractEventLoop, str], object] = {}


def async_redis_client():
    """An asyncio client for REDIS_URL, for the running event loop (one per server process)."""
    import redis.asyncio

    loop = asyncio.get_running_loop()
    for stale in [key for key in _async_clients if key[0].is_closed()]:
        del _async_clients[stale]
    key = (loop, settings.REDIS_URL)
    if key not in _async_clients:
        _async_clients[key] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, health_check_interval=30
        )
    return _async_clients[key]


def redis_key(name: str) -> str:
    """`name` under the deployment's key prefix (the cache's), so deployments can share a Redis."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'parley')}:{name}"
