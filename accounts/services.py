"""Every write to account data: API tokens, socket tickets, profiles and avatars."""

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts import avatars
from accounts.credentials import Credential, session_signs_in
from accounts.models import ApiToken, SocketTicket, User
from postgres import prepared_cursor

TOKEN_PREFIX = "plt_"  # noqa: S105


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
    from realtime import publisher

    updated = ApiToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated:
        transaction.on_commit(
            lambda: publisher.sockets_close(
                user_id=user.id, group=publisher.token_group(token_id), reason="revoked"
            )
        )
    return bool(updated)


@transaction.atomic
def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every live token of the user, void the unused tickets tokens minted and close the
    sockets they opened; the number of tokens revoked."""
    from realtime import publisher

    token_ids = list(
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).values_list("id", flat=True)
    )
    ApiToken.objects.filter(id__in=token_ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    SocketTicket.objects.filter(user=user, token__isnull=False, used_at__isnull=True).delete()

    publisher.sockets_close_on_commit(
        user_id=user.id, groups=[publisher.token_group(t) for t in token_ids], reason="revoked"
    )
    return len(token_ids)


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


# The live token of a key hash and an active user (as api_token_authenticate finds it), its last
# use recorded at most once a minute, in one statement: a socket's handshake asks it first,
# before the user is loaded (by credential_user).
_KEY_CREDENTIAL = """
WITH token AS (
  SELECT token.id, token.user_id, token.last_used_at FROM accounts_apitoken token
  JOIN accounts_user account ON account.id = token.user_id AND account.is_active
  WHERE token.key_hash = %(key_hash)s AND token.revoked_at IS NULL
), used AS (
  UPDATE accounts_apitoken SET last_used_at = %(now)s
  WHERE id = (SELECT id FROM token WHERE last_used_at IS NULL OR last_used_at < %(stale)s)
)
SELECT id, user_id FROM token
"""


def api_token_credential(*, key: str) -> Credential | None:
    """The credential a raw key names while its token is unrevoked and its user active,
    recording its use; the socket's credential_user checks it again once it listens for its
    revocation."""
    if not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    now = timezone.now()
    params = {"key_hash": _hash(key), "now": now, "stale": now - timedelta(minutes=1)}
    with prepared_cursor() as cursor:
        cursor.execute(_KEY_CREDENTIAL, params)
        row = cursor.fetchone()
    return None if row is None else Credential(user_id=row[1], token_id=row[0])


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
    if not isinstance(key, str) or not key.isascii() or not key or len(key) > 100:
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
    if ticket.session_key and not session_signs_in(
        session_key=ticket.session_key, user=ticket.user
    ):
        return None  # that session logged out, or the password changed, since
    return ticket


def user_signup(*, username: str, email: str, password: str) -> User:
    """A new active account with a hashed password."""
    return User.objects.create_user(
        username=username, email=User.objects.normalize_email(email), password=password
    )


def profile_update(*, user: User, first_name: str, last_name: str, email: str) -> None:
    """Change the user's name and email address."""
    user.first_name = first_name
    user.last_name = last_name
    user.email = User.objects.normalize_email(email)
    user.save(update_fields=["first_name", "last_name", "email"])


def user_theme_set(*, user: User, theme: str) -> None:
    """Choose the user's colour scheme: follow the system's, or always light or dark."""
    if theme not in User.Theme.values:
        raise ValueError(f"No such colour scheme: {theme!r}")
    user.theme = theme
    user.save(update_fields=["theme"])


def avatar_set(*, user: User, upload) -> None:
    """Replace the user's picture with a clean thumbnail of `upload`; AvatarRejected if unfit."""
    thumbnail = avatars.avatar_thumbnail(upload)
    with transaction.atomic():
        old_name = _avatar_name_locked(user)
        user.avatar.save(f"{uuid.uuid4().hex}.jpg", ContentFile(thumbnail), save=False)
        user.save(update_fields=["avatar"])
        _delete_after_commit(user, old_name)


@transaction.atomic
def avatar_remove(*, user: User) -> None:
    """Remove the user's picture; the initials avatar shows instead."""
    old_name = _avatar_name_locked(user)
    user.avatar = ""
    user.save(update_fields=["avatar"])
    _delete_after_commit(user, old_name)


def _avatar_name_locked(user: User) -> str:
    return User.objects.select_for_update().values_list("avatar", flat=True).get(pk=user.pk)


def _delete_after_commit(user: User, name: str) -> None:
    if name:
        storage = user.avatar.storage
        transaction.on_commit(lambda: storage.delete(name))


def time_zone_valid(name) -> bool:
    """Whether `name` is an IANA time zone this server knows (zoneinfo's list)."""
    return isinstance(name, str) and name in time_zones()


@cache
def time_zones() -> frozenset[str]:
    """The IANA zones zoneinfo knows (but "localtime", the server's own, which names none)."""
    return frozenset(available_timezones() - {"localtime"})  # walks the zone files: once


def presence_settings_update(
    *, user: User, show_presence: bool, send_read_receipts: bool, time_zone: str
) -> None:
    """Change who sees the user's presence and receipts, and their time zone; their open sockets
    pick the change up at once."""
    from realtime import publisher

    if time_zone and not time_zone_valid(time_zone):
        raise ValueError(f"Unknown time zone {time_zone!r}.")
    user.show_presence = show_presence
    user.send_read_receipts = send_read_receipts
    user.time_zone = time_zone
    user.save(update_fields=["show_presence", "send_read_receipts", "time_zone"])
    user_id = user.id
    transaction.on_commit(lambda: publisher.user_settings_changed(user_id=user_id))


def time_zone_report(*, user: User, time_zone) -> bool:
    """Store the time zone a browser reports, if valid and new; whether it was stored. It never
    replaces a zone the user chose."""
    if not time_zone_valid(time_zone) or time_zone == user.reported_time_zone:
        return False
    user.reported_time_zone = time_zone
    User.objects.filter(id=user.id).update(reported_time_zone=time_zone)
    return True


def user_last_seen_set(*, user_id: int, at: datetime) -> None:
    """Record when the user was last connected (their presence went offline)."""
    User.objects.filter(id=user_id).update(last_seen=at)
