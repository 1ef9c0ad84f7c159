"""How many sockets each user has open, across processes: each live socket is an entry with an
expiry that its process's backstop renews (chat.sockets). A process that crashes, or a Redis that
restarts, leaves entries that simply expire, so a count heals within CHAT_SOCKET_TTL seconds."""

import threading
import time

from django.conf import settings

from chat.redis_client import redis_client, redis_key

# KEYS[1] the user's hash (socket -> expiry, ms); ARGV: socket, now, expiry, cap, key ttl (ms).
# Drops expired entries, then adds the socket if the user is under the cap: 1 if added, else 0.
_OPEN = """
local now = tonumber(ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) <= now then redis.call('HDEL', KEYS[1], entries[i])
  elseif entries[i] ~= ARGV[1] then live = live + 1 end
end
if live >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _key(user_id: int) -> str:
    return redis_key(f"sockets:{user_id}")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ttl_ms() -> int:
    return int(settings.CHAT_SOCKET_TTL * 1000)


_local_lock = threading.Lock()
_local: dict[int, dict[str, int]] = {}


def socket_open(*, user_id: int, socket_id: str) -> bool:
    """Count a new socket for the user; False (and not counted) when over the cap."""
    now, cap = _now_ms(), settings.CHAT_MAX_SOCKETS_PER_USER
    expiry = now + _ttl_ms()
    if settings.REDIS_URL:
        return bool(
            redis_client().register_script(_OPEN)(
                keys=[_key(user_id)], args=[socket_id, now, expiry, cap, _ttl_ms()]
            )
        )
    with _local_lock:
        entries = {s: e for s, e in _local.get(user_id, {}).items() if e > now and s != socket_id}
        if len(entries) >= cap:
            _local[user_id] = entries
            return False
        entries[socket_id] = expiry
        _local[user_id] = entries
        return True


def sockets_renew(sockets: list[tuple[int, str]]) -> None:
    """Extend the entries of this process's live sockets, (user id, socket id) each."""
    expiry = _now_ms() + _ttl_ms()
    if settings.REDIS_URL:
        pipe = redis_client().pipeline(transaction=False)
        for user_id, socket_id in sockets:
            pipe.hset(_key(user_id), socket_id, expiry)
            pipe.pexpire(_key(user_id), _ttl_ms())
        pipe.execute()
        return
    with _local_lock:
        for user_id, socket_id in sockets:
            _local.setdefault(user_id, {})[socket_id] = expiry


def socket_close(*, user_id: int, socket_id: str) -> None:
    """Stop counting a socket."""
    if settings.REDIS_URL:
        redis_client().hdel(_key(user_id), socket_id)
        return
    with _local_lock:
        _local.get(user_id, {}).pop(socket_id, None)


def socket_count(*, user_id: int) -> int:
    """The user's live sockets across processes."""
    now = _now_ms()
    if settings.REDIS_URL:
        expiries = redis_client().hvals(_key(user_id))
    else:
        with _local_lock:
            expiries = list(_local.get(user_id, {}).values())
    return sum(1 for expiry in expiries if int(expiry) > now)
