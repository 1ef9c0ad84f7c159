"""ASGI entry point: Django for HTTP, the chat consumer for WebSockets."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.socket_auth import SocketAuthMiddleware  # noqa: E402

# A young generation of 50,000 objects instead of 700: collected every 700, it promoted the
# objects of the handshakes in flight to the old generation, and the full collections that
# followed walked every held socket's objects: 0.8 ms of CPU per handshake with 6,000 sockets
# held (one process, 17 full collections in the ramp; none at 50,000). Cycles are collected as
# before, only in larger batches.
gc.set_threshold(50_000, 10, 10)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
