"""Database work of the sockets, on a connection kept between calls.

Channels' database_sync_to_async closes the connection before and after every call, as a
request would; with Django's pool that is a checkout, a health-check query and a return for each
frame: the larger part of a message's database time in the benchmark. Sockets keep the database
thread's connection instead; one that broke (a restarted server, a terminated backend) is closed
as the call fails, which the socket answers `unavailable`, and the next call opens a fresh one."""

from functools import partial

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, connection


def in_database_thread(function):
    """`function` as a coroutine function run in the database thread (thread_sensitive), on the
    connection that thread keeps."""
    return sync_to_async(partial(_on_kept_connection, function), thread_sensitive=True)


def _on_kept_connection(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (OperationalError, InterfaceError):
        if not connection.in_atomic_block:
            connection.close()
        raise
