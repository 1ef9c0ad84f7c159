"""Django's Redis cache holds a handful of connections per process, not one per socket."""

import asyncio
import uuid

import pytest
import redis
from asgiref.sync import sync_to_async
from django.core.cache import cache

from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.skipif(not TEST_REDIS_URL, reason="no Redis (TEST_REDIS_URL unset)")


async def test_tasks_reading_the_cache_share_one_redis_connection(settings):
    name = f"parley-test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "OPTIONS": {
                "pool_class": "config.redis_pool.SharedConnectionPool",
                "client_name": name,
            },
        }
    }
    done = asyncio.Event()

    async def socket_reads_its_marker():  # each socket's consumer is a task of its own
        await sync_to_async(cache.get)("revoked:1")
        await done.wait()

    tasks = [asyncio.create_task(socket_reads_its_marker()) for _ in range(20)]
    await asyncio.sleep(0.5)
    clients = redis.Redis.from_url(TEST_REDIS_URL).client_list()
    done.set()
    await asyncio.gather(*tasks)
    assert sum(client["name"] == name for client in clients) == 1
