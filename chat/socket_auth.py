"""Who is on the other end of a socket: a bearer token, or the session cookie from an allowed
Origin. A socket with neither may still authenticate with a ticket as its first frame."""

from http.cookies import SimpleCookie
from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from accounts.services import api_token_authenticate
from chat.db import in_database_thread
from realtime.wire import SERVER_SEND


def origin_allowed(origin: bytes | None) -> bool:
    """True when the Origin header names a host this site serves (as Django's ALLOWED_HOSTS)."""
    if not origin:
        return False
    parsed = urlparse(origin.decode("latin-1"))
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(parsed.hostname, allowed)


def _has_session_cookie(headers: dict[bytes, bytes]) -> bool:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:
        return False
    return settings.SESSION_COOKIE_NAME in cookie


class SocketAuthMiddleware:
    """Sets scope["user"] and scope["auth"] = {"method": token|session|none|invalid|bad_origin}."""

    def __init__(self, inner):
        self.inner = inner
        self.session_stack = AuthMiddlewareStack(inner)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        scope = {**scope, SERVER_SEND: send}
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            token = None
            if scheme.lower() == "bearer" and key.strip():
                token = await in_database_thread(api_token_authenticate)(key=key.strip())
            if token is None:
                scope["user"] = AnonymousUser()
                scope["auth"] = {"method": "invalid"}
            else:
                scope["user"] = token.user
                scope["auth"] = {"method": "token", "token_id": token.id}
            return await self.inner(scope, receive, send)
        if _has_session_cookie(headers):
            if not origin_allowed(headers.get(b"origin")):
                scope["user"] = AnonymousUser()
                scope["auth"] = {"method": "bad_origin"}
                return await self.inner(scope, receive, send)
            scope["auth"] = {"method": "session"}
            return await self.session_stack(scope, receive, send)
        scope["user"] = AnonymousUser()
        scope["auth"] = {"method": "none"}
        return await self.inner(scope, receive, send)
