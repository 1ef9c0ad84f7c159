"""Is the credential behind a long-lived connection still good? One socket at a time (on connect
and after a revocation marker changed) or many at once (each process's periodic backstop)."""

from dataclasses import dataclass
from functools import cache
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import ApiToken, User
from postgres import prepared_cursor


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
# CPU per handshake, the largest part of a handshake's own work; read through a plain cursor,
# as RawQuerySet's column matching cost as much as the query itself.
_CREDENTIAL_USER = """
SELECT {columns}, session.session_data
FROM accounts_user account
LEFT JOIN django_session session
  ON session.session_key = %(session_key)s AND session.expire_date > %(now)s
WHERE account.id = %(user_id)s AND account.is_active
  AND (%(token_id)s::bigint IS NULL OR EXISTS (
    SELECT FROM accounts_apitoken token
    WHERE token.id = %(token_id)s AND token.user_id = account.id AND token.revoked_at IS NULL
  ))
"""


@cache
def _credential_user_sql() -> tuple[str, list[str]]:
    """The query, naming each column of the user, and the attribute names they load."""
    fields = User._meta.concrete_fields
    columns = ", ".join(f"account.{connection.ops.quote_name(f.column)}" for f in fields)
    return _CREDENTIAL_USER.format(columns=columns), [f.attname for f in fields]


def credential_user(credential: Credential) -> User | None:
    """The user behind the credential, loaded whole, while the credential holds (as
    credentials_valid judges it); None once it does not. One query, for a socket's handshake."""
    sql, names = _credential_user_sql()
    params = {
        "user_id": credential.user_id,
        "token_id": credential.token_id,
        "session_key": credential.session_key,
        "now": timezone.now(),
    }
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    user = User.from_db(connection.alias, names, row[:-1])
    if not credential.session_key:
        return user
    session_data = row[-1]
    if session_data is None:
        return None
    return user if _session_signs_in(_session_store().decode(session_data), user) else None


_SESSION_DATA = """
SELECT session_data FROM django_session WHERE session_key = %(key)s AND expire_date > %(now)s
"""


def session_credential(*, session_key: str) -> Credential | None:
    """The credential a session cookie names while the session lives and holds a signed-in user
    of a configured backend; whether that user may still sign in (and the session still
    authenticates them) is for credential_user to say. One query."""
    if not session_key or len(session_key) > 40:
        return None
    with prepared_cursor() as cursor:
        cursor.execute(_SESSION_DATA, {"key": session_key, "now": timezone.now()})
        row = cursor.fetchone()
    if row is None:
        return None
    data = _session_store().decode(row[0])
    if data.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        user_id = int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None
    return Credential(user_id=user_id, session_key=session_key)


def _session_store():
    """An empty store of the session engine, for decoding session data."""
    return import_module(settings.SESSION_ENGINE).SessionStore()


def _live_sessions(keys: set[str]) -> dict[str, dict]:
    """Decoded data of the unexpired sessions among `keys` (sessions live in the database)."""
    if not keys:
        return {}
    store = _session_store()
    rows = Session.objects.filter(session_key__any=keys, expire_date__gt=timezone.now())
    return {row.session_key: store.decode(row.session_data) for row in rows}
