"""PostgreSQL helpers that both apps use (accounts knows nothing of chat)."""

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


class _PreparingCursor(ServerBindingCursor):
    """Parameters bound by the server, and each statement prepared on its first run."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Logs the statement as written: the server binds its parameters, so the driver has no
    text with them in it (Django logs executemany the same way)."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def prepared_cursor():
    """A cursor for a hot statement that PostgreSQL plans once per connection rather than at
    every run (Django prepares none, for poolers' sake): Django's wrapper over it, so the
    statement is logged and counted like any other. Behind PgBouncer in transaction mode this
    needs its max_prepared_statements (1.21 and later)."""
    connection.ensure_connection()
    # Django turns preparing off on the connection; only server-binding cursors prepare at all,
    # and Django's own cursors bind on the client, so this one alone is affected.
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = 5
    cursor = _PreparingCursor(connection.connection)
    if connection.queries_logged:
        return _PreparedDebugWrapper(cursor, connection)
    return connection.make_cursor(cursor)
