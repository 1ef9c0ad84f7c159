"""One Redis connection pool per process for Django's cache, whatever asks for it.

Django keeps a cache object per asyncio task (its handler is an asgiref Local), and its Redis
client a pool per object: every socket, a task of its own, opened a Redis connection of its own
for its first revocation-marker read (five round trips to set up) and kept it for as long as the
socket lived. Pools shared by URL and options keep a process at a handful of connections."""

from functools import cache

import redis


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    @cache
    def from_url(cls, url: str, **options) -> "SharedConnectionPool":
        """The process's pool for `url` and `options`, made on first use."""
        return super().from_url(url, **options)
