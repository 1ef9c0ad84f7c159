"""The Redis client of a process for Parley's own keys (revocation markers, rate limits, socket
counts), from any thread; the channel layer and the cache keep their own connections, and the
event loop reads markers over realtime/resp's."""

from functools import cache

from django.conf import settings


def redis_client():
    """A client for REDIS_URL (a pool underneath: safe from any thread)."""
    return _client(settings.REDIS_URL)


@cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, health_check_interval=30)


def redis_key(name: str) -> str:
    """`name` under the deployment's key prefix (the cache's), so deployments can share a Redis."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'parley')}:{name}"
