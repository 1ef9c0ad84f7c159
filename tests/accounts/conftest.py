import uuid

import pytest
from django.test import override_settings

from tests.conftest import TEST_REDIS_URL


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test gets an empty cache of its own, so throttle counters never leak between tests."""
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"accounts-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(params=["locmem", "redis"])
def any_cache(request, fresh_cache):
    """Run a test once with the in-process cache and once with Redis, as in production."""
    if request.param == "locmem":
        yield request.param
        return
    if not TEST_REDIS_URL:
        pytest.skip("no Redis for the tests (TEST_REDIS_URL unset)")
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"parley-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=caches):
        yield request.param
