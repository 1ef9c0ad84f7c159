"""Is the credential behind a long-lived connection still good? One socket at a time (on connect
and after a revocation marker changed) or many at once (each process's periodic backstop)."""

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import ApiToken, User


@dataclass(frozen=True)
class Credential:
    """What opened a socket: a session (cookie, or the session that issued its ticket) and/or an
    API token (bearer, or the token that minted its ticket)."""

    user_id: int
    session_key: str = ""
    token_id: int | None = None


def _session_signs_in(data: dict, user: User) -> bool:
    """True while decoded session data still authenticates `user` (as Django's own check does:
    the password-derived hash rotates on a password change)."""
    return data.get(SESSION_KEY) == str(user.pk) and constant_time_compare(
        data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
    )


def session_signs_in(*, session_key: str, user: User) -> bool:
    """True while the session `session_key` still authenticates `user`."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return _session_signs_in(session.load(), user)


def credentials_valid(credentials: list[Credential]) -> set[Credential]:
    """The credentials that still hold: active user, live session, unrevoked token. A fixed
    number of queries however many credentials are asked about."""
    if not credentials:
        return set()
    # Rows, not model instances: a process's sweep asks about every socket it holds, and
    # building hundreds of users (each sending its init signals) was most of the sweep's cost.
    passwords = dict(
        User.objects.filter(id__any={c.user_id for c in credentials}, is_active=True).values_list(
            "id", "password"
        )
    )
    token_ids = {c.token_id for c in credentials if c.token_id}
    live_tokens = set(
        ApiToken.objects.filter(id__any=token_ids, revoked_at__isnull=True).values_list(
            "id", flat=True
        )
    )
    sessions = _live_sessions({c.session_key for c in credentials if c.session_key})
    # The session hash is the user's method: an unsaved user each for those with a session.
    in_sessions = {c.user_id for c in credentials if c.session_key}
    signers = {
        user_id: User(id=user_id, password=password)
        for user_id, password in passwords.items()
        if user_id in in_sessions
    }
    valid = set()
    for credential in credentials:
        if credential.user_id not in passwords:
            continue
        if credential.token_id and credential.token_id not in live_tokens:
            continue
        if credential.session_key and not _session_signs_in(
            sessions.get(credential.session_key, {}), signers[credential.user_id]
        ):
            continue
        valid.add(credential)
    return valid


# The user whole, if active and, for a token, while it is unrevoked; with the session's data
# while it lives. In SQL: put together with the ORM (a subquery, an EXISTS) it cost 0.7 ms of
# CPU per handshake, the largest part of a handshake's own work.
_CREDENTIAL_USER = """
SELECT account.*, session.session_data
FROM accounts_user account
LEFT JOIN django_session session
  ON session.session_key = %(session_key)s AND session.expire_date > %(now)s
WHERE account.id = %(user_id)s AND account.is_active
  AND (%(token_id)s::bigint IS NULL OR EXISTS (
    SELECT FROM accounts_apitoken token
    WHERE token.id = %(token_id)s AND token.user_id = account.id AND token.revoked_at IS NULL
  ))
"""


def credential_user(credential: Credential) -> User | None:
    """The user behind the credential, loaded whole, while the credential holds (as
    credentials_valid judges it); None once it does not. One query, for a socket's handshake."""
    params = {
        "user_id": credential.user_id,
        "token_id": credential.token_id,
        "session_key": credential.session_key,
        "now": timezone.now(),
    }
    user = next(iter(User.objects.raw(_CREDENTIAL_USER, params)), None)
    if user is None or not credential.session_key:
        return user
    if user.session_data is None:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    return user if _session_signs_in(store.decode(user.session_data), user) else None


def _live_sessions(keys: set[str]) -> dict[str, dict]:
    """Decoded data of the unexpired sessions among `keys` (sessions live in the database)."""
    if not keys:
        return {}
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    rows = Session.objects.filter(session_key__any=keys, expire_date__gt=timezone.now())
    return {row.session_key: store.decode(row.session_data) for row in rows}
