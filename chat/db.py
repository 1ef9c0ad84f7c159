"""Database work of the sockets, in one thread of the process's own, on a connection kept
between calls.

Channels' database_sync_to_async closes the connection before and after every call, as a
request would; with Django's pool that is a checkout, a health-check query and a return for each
frame: the larger part of a message's database time in the benchmark. Sockets keep their
thread's connection instead; one that broke (a restarted server, a terminated backend) is closed
as the call fails, which the socket answers `unavailable`, and the next call opens a fresh one.

The thread is the sockets' alone, rather than asgiref's one thread for all synchronous work
(sync_to_async with thread_sensitive): a hop there cost 49-63 µs of CPU, here 32, and socket
frames no longer queue behind page requests served by the same process."""

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial, wraps

from django.db import InterfaceError, OperationalError, connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


@cache
def _database_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="socket-database")


def in_database_thread(function):
    """`function` as a coroutine function run in the sockets' database thread, on the
    connection that thread keeps (calls run one at a time, in the order made)."""

    @wraps(function)
    async def run(*args, **kwargs):
        context = contextvars.copy_context()
        call = partial(context.run, _on_kept_connection, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_database_thread(), call)

    return run


def _on_kept_connection(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (OperationalError, InterfaceError):
        if not connection.in_atomic_block:
            connection.close()
        raise


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
