"""Who is on the other end of a socket: a bearer token, or the session cookie from an allowed
Origin. A socket with neither may still authenticate with a ticket as its first frame.

Only the credential is found here (one small query); the consumer loads the user, and checks
that the credential still holds, once the socket hears the credential's revocation."""

from http.cookies import SimpleCookie
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host

from accounts.credentials import session_credential
from accounts.services import api_token_credential
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


def _session_cookie(headers: dict[bytes, bytes]) -> str | None:
    """The session cookie's value, or None when there is none."""
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    return None if morsel is None else morsel.value


class SocketAuthMiddleware:
    """Sets scope["auth"] = {"method": token|session|none|invalid|bad_origin}, with the
    "credential" for a token or session, and scope["user"]: anonymous until the consumer admits
    the socket and puts its user there."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        scope = {**scope, SERVER_SEND: send}
        scope["user"] = AnonymousUser()
        scope["auth"] = await self._auth(headers)
        return await self.inner(scope, receive, send)

    async def _auth(self, headers: dict[bytes, bytes]) -> dict:
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if authorization:
            scheme, _, key = authorization.partition(" ")
            credential = None
            if scheme.lower() == "bearer" and key.strip():
                credential = await in_database_thread(api_token_credential)(key=key.strip())
            if credential is None:
                return {"method": "invalid"}
            return {"method": "token", "credential": credential}
        session_key = _session_cookie(headers)
        if session_key is None:
            return {"method": "none"}
        if not origin_allowed(headers.get(b"origin")):
            return {"method": "bad_origin"}
        credential = await in_database_thread(session_credential)(session_key=session_key)
        if credential is None:
            return {"method": "invalid"}
        return {"method": "session", "credential": credential}
