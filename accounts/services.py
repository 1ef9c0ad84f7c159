"""Every write to account data: API tokens, socket tickets, profiles and avatars."""

import hashlib
import secrets
from importlib import import_module
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, SocketTicket, User

TOKEN_PREFIX = "plt_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the raw key is returned once and never stored."""
    name = " ".join((name or "").split())[:100] or "API token"
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=_hash(key), prefix=key[:12])
    return token, key


@transaction.atomic
def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens and close the sockets it opened."""
    from chat import realtime

    updated = ApiToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        transaction.on_commit(
            lambda: realtime.sockets_close(group=realtime.token_group(token_id), reason="revoked")
        )
    return bool(updated)


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token for a raw key, with its active user; records when it was last used."""
    if not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now
    return token


def socket_ticket_issue(*, user: User, session_key: str = "", token_id: int | None = None) -> str:
    """A single-use ticket valid CHAT_TICKET_TTL seconds, tied to the credential that asked."""
    key = secrets.token_urlsafe(32)
    SocketTicket.objects.create(
        user=user,
        key_hash=_hash(key),
        session_key=session_key or "",
        token_id=token_id,
        expires_at=timezone.now() + timedelta(seconds=settings.CHAT_TICKET_TTL),
    )
    SocketTicket.objects.filter(expires_at__lt=timezone.now() - timedelta(hours=1)).delete()
    return key


def socket_ticket_redeem(*, key) -> SocketTicket | None:
    """Use a ticket once: the ticket with its user, or None when unknown, used or expired."""
    if not isinstance(key, str) or not key or len(key) > 100:
        return None
    now = timezone.now()
    claimed = SocketTicket.objects.filter(
        key_hash=_hash(key), used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if not claimed:
        return None
    ticket = SocketTicket.objects.select_related("user", "token").get(key_hash=_hash(key))
    if not ticket.user.is_active or (ticket.token and ticket.token.revoked_at):
        return None
    if ticket.session_key and not _session_store().exists(ticket.session_key):
        return None  # the session that asked for it has logged out since
    return ticket


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore()
