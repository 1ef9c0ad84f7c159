"""timestamptz values parsed by psycopg's C loader rather than Django's Python one.

Django registers a loader of its own on every connection, a subclass of psycopg's pure-Python
loader that sets the connection's time zone on each value: about 5 µs a value in Python, where
psycopg's C loader takes 0.4. A handshake loads a dozen (the user, the token, each room's), a
chat page hundreds, a batch of sends one per message. With USE_TZ and no TIME_ZONE of the
database's own (Parley's settings), Django's time zone is UTC and so is the session's, and the C
loader returns the very same values, so it stands in; otherwise Django's stays."""

import datetime

from psycopg import adapt, postgres
from psycopg._cmodule import _psycopg

TIMESTAMPTZ_OID = postgres.types["timestamptz"].oid


class CTimestamptzLoader(adapt.Loader):
    """psycopg's C loader of the connection (the session's time zone is UTC)."""

    # Django compares this with the connection's own before each cursor, and registers its
    # loader again where they differ.
    timezone = datetime.UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        self._load = _psycopg.TimestamptzLoader(oid, context).load

    def load(self, data):
        return self._load(data)


def use_c_loader(*, connection, **kwargs) -> None:
    """On connection_created: stand psycopg's C loader in for Django's, where it gives the same
    values (PostgreSQL through psycopg with its C module, Django's time zone UTC)."""
    if (
        connection.vendor == "postgresql"
        and _psycopg is not None
        and connection.timezone is datetime.UTC
    ):
        connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, CTimestamptzLoader)
