import os

import pytest
from django.test import override_settings

from tests.factories import UserFactory

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def make_user(db):
    return UserFactory


REDIS_LAYERS = {
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


@pytest.fixture(params=["memory", "redis", "pubsub"])
def channel_layer(request, settings):
    """Run a test with the in-memory channel layer and with both channels-redis layers."""
    from channels.layers import channel_layers

    if request.param in REDIS_LAYERS:
        if not TEST_REDIS_URL:
            pytest.skip("no Redis for the tests (TEST_REDIS_URL unset)")
        prefix = f"parley-test-{os.getpid()}"
        layers = {
            "default": {
                "BACKEND": REDIS_LAYERS[request.param],
                "CONFIG": {
                    "hosts": [{"address": TEST_REDIS_URL, "socket_timeout": None}],
                    "prefix": prefix,
                },
            }
        }
    else:
        layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()
        yield request.param
        channel_layers.backends.clear()
