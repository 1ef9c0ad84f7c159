"""Typing notices: best effort, and bounded as Zulip bounds them. A person's typing in a room is
passed on at most once every INTERVAL seconds (pages send it every 3 s while keys are pressed,
and again at once after a message, which resets the interval), and only in rooms of at most
CHAT_TYPING_ROOM_MAX members: in a room of 2,000 a notice to everyone on each keystroke would be
most of the server's work and nobody's use. Kept per process, like the sockets it serves."""

import math

from django.conf import settings

from chat import queries

INTERVAL = 2.0
# How long a room's size is trusted before it is asked again.
SIZE_TTL = 60.0
# Past this many (room, person) entries, the stale ones are dropped.
ENTRIES_MAX = 100_000

_passed_at: dict[tuple[int, int], float] = {}
_small: dict[int, tuple[bool, float]] = {}


def typing_due(*, room_id: int, user_id: int, now: float) -> bool:
    """Whether this notice is passed on (and if so, the interval starts again)."""
    key = (room_id, user_id)
    if now - _passed_at.get(key, -math.inf) < INTERVAL:
        return False
    if len(_passed_at) >= ENTRIES_MAX:
        for stale in [k for k, at in _passed_at.items() if now - at >= INTERVAL]:
            del _passed_at[stale]
    _passed_at[key] = now
    return True


def typing_reset(*, room_id: int, user_id: int) -> None:
    """The person sent a message: their next keystroke is news again."""
    _passed_at.pop((room_id, user_id), None)


def room_small_known(*, room_id: int, now: float) -> bool | None:
    """Whether the room is small enough for typing notices, if known lately; None if not."""
    known = _small.get(room_id)
    return known[0] if known and now - known[1] < SIZE_TTL else None


def room_small_find(*, room_id: int, now: float) -> bool:
    """Ask the database (in the database thread) and remember the answer."""
    small = queries.room_has_at_most(room_id=room_id, most=settings.CHAT_TYPING_ROOM_MAX)
    _small[room_id] = (small, now)
    return small
