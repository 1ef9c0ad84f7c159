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
