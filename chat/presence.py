"""How many sockets each user has open, across processes: each live socket is an entry with an
expiry that its process's backstop renews (chat.sockets). A process that crashes, or a Redis that
restarts, leaves entries that simply expire, so a count heals within CHAT_SOCKET_TTL seconds.

The same entries make a user's presence: online while one of their live sockets is active, idle
while all of them say their person is idle, offline when none is live. The last status told to
others is kept per user, so a change is published once (by whoever notices it first), and a
sorted set of users by the expiry of their latest entry lets any process find the users whose
sockets all expired (a crashed process) and tell their rooms they are offline."""

import threading
import time

from django.conf import settings

from realtime.redis_client import redis_client, redis_key

# KEYS: the user's hash (socket -> expiry, ms), the expiry set, the user's last status; ARGV:
# socket, now, expiry, cap, key ttl (ms), user id, status, status ttl (ms).
# Drops expired entries, then, if the user is under the cap, adds the socket, moves the user's
# expiry and stores `status` as their last one: {the last one before, status}; {} when over the
# cap. One round trip per handshake.
_OPEN = """
local now = tonumber(ARGV[2])
local entries = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) <= now then redis.call('HDEL', KEYS[1], entries[i])
  elseif entries[i] ~= ARGV[1] then live = live + 1 end
end
if live >= tonumber(ARGV[4]) then return {} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[6])
local before = redis.call('GET', KEYS[3]) or 'offline'
redis.call('SET', KEYS[3], ARGV[7], 'PX', ARGV[8])
return {before, ARGV[7]}
"""


ONLINE, IDLE, OFFLINE = "online", "idle", "offline"

# KEYS: the user's sockets hash, idle set, last status; ARGV: now (ms), hidden (1/0), status ttl.
# The user's status now (offline when hidden), stored as the last one; returns {before, now}.
_STATUS = """
local now = tonumber(ARGV[1])
local entries = redis.call('HGETALL', KEYS[1])
local live, idle = 0, 0
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) > now then
    live = live + 1
    if redis.call('SISMEMBER', KEYS[2], entries[i]) == 1 then idle = idle + 1 end
  end
end
local status = 'online'
if live == 0 or ARGV[2] == '1' then status = 'offline' elseif idle == live then status = 'idle' end
local before = redis.call('GET', KEYS[3]) or 'offline'
redis.call('SET', KEYS[3], status, 'PX', ARGV[3])
return {before, status}
"""

# KEYS[1] the expiry set; ARGV: now (ms), most. Claims (removes) and returns users whose latest
# entry expired, each with that expiry, so one process alone handles each.
_EXPIRED = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[2]))
if #found > 0 then
  local ids = {}
  for i = 1, #found, 2 do ids[#ids + 1] = found[i] end
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return found
"""

# KEYS: the expiry set, then each socket's user's sockets hash and idle set; ARGV: expiry, key
# ttl (ms), then each socket's id and user id. Extends every entry; one round trip per sweep,
# where a pipeline of three commands per socket cost 15 ms of CPU for 620 sockets (now 1.7).
_RENEW = """
local expiry, ttl = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[i - 1], ARGV[i], expiry)
  redis.call('PEXPIRE', KEYS[i - 1], ttl)
  redis.call('PEXPIRE', KEYS[i], ttl)
  redis.call('ZADD', KEYS[1], 'GT', expiry, ARGV[i + 1])
end
return 0
"""

# A last status is kept this long (ms); without it a user counts as offline, which they are.
_STATUS_TTL = 7 * 24 * 60 * 60 * 1000


def _key(user_id: int) -> str:
    return redis_key(f"sockets:{user_id}")


def _idle_key(user_id: int) -> str:
    return redis_key(f"idle:{user_id}")


def _status_key(user_id: int) -> str:
    return redis_key(f"presence:{user_id}")


def _expiry_key() -> str:
    return redis_key("presence:expiries")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ttl_ms() -> int:
    return int(settings.CHAT_SOCKET_TTL * 1000)


_local_lock = threading.Lock()
_local: dict[int, dict[str, int]] = {}
_local_idle: dict[int, set[str]] = {}
_local_status: dict[int, str] = {}


def socket_open(*, user_id: int, socket_id: str, hidden: bool) -> tuple[str, str] | None:
    """Count a new socket for the user, as status_refresh would then: the last told status and
    the status now (online, or offline when hidden); None (and not counted) when over the cap."""
    now, cap = _now_ms(), settings.CHAT_MAX_SOCKETS_PER_USER
    expiry = now + _ttl_ms()
    status = OFFLINE if hidden else ONLINE  # a socket that just opened is active
    if settings.REDIS_URL:
        keys = [_key(user_id), _expiry_key(), _status_key(user_id)]
        args = [socket_id, now, expiry, cap, _ttl_ms(), user_id, status, _STATUS_TTL]
        told = redis_client().register_script(_OPEN)(keys=keys, args=args)
        return (told[0].decode(), told[1].decode()) if told else None
    with _local_lock:
        entries = {s: e for s, e in _local.get(user_id, {}).items() if e > now and s != socket_id}
        if len(entries) >= cap:
            _local[user_id] = entries
            return None
        entries[socket_id] = expiry
        _local[user_id] = entries
        before = _local_status.get(user_id, OFFLINE)
        _local_status[user_id] = status
        return before, status


def sockets_renew(sockets: list[tuple[int, str]]) -> None:
    """Extend the entries of this process's live sockets, (user id, socket id) each."""
    expiry = _now_ms() + _ttl_ms()
    if settings.REDIS_URL:
        if not sockets:
            return
        keys = [_expiry_key()]
        args = [expiry, _ttl_ms()]
        for user_id, socket_id in sockets:
            keys += [_key(user_id), _idle_key(user_id)]
            args += [socket_id, user_id]
        redis_client().register_script(_RENEW)(keys=keys, args=args)
        return
    with _local_lock:
        for user_id, socket_id in sockets:
            _local.setdefault(user_id, {})[socket_id] = expiry


def socket_close(*, user_id: int, socket_id: str) -> None:
    """Stop counting a socket."""
    if settings.REDIS_URL:
        redis_client().pipeline(transaction=False).hdel(_key(user_id), socket_id).srem(
            _idle_key(user_id), socket_id
        ).execute()
        return
    with _local_lock:
        _local.get(user_id, {}).pop(socket_id, None)
        _local_idle.get(user_id, set()).discard(socket_id)


def socket_count(*, user_id: int) -> int:
    """The user's live sockets across processes."""
    now = _now_ms()
    if settings.REDIS_URL:
        expiries = redis_client().hvals(_key(user_id))
    else:
        with _local_lock:
            expiries = list(_local.get(user_id, {}).values())
    return sum(1 for expiry in expiries if int(expiry) > now)


def socket_activity(*, user_id: int, socket_id: str, active: bool) -> None:
    """Record whether the person at this socket is active (input lately) or idle."""
    if settings.REDIS_URL:
        pipe = redis_client().pipeline(transaction=False)
        if active:
            pipe.srem(_idle_key(user_id), socket_id)
        else:
            pipe.sadd(_idle_key(user_id), socket_id).pexpire(_idle_key(user_id), _ttl_ms())
        pipe.execute()
        return
    with _local_lock:
        idle = _local_idle.setdefault(user_id, set())
        if active:
            idle.discard(socket_id)
        else:
            idle.add(socket_id)


def status_refresh(*, user_id: int, hidden: bool) -> tuple[str, str]:
    """The user's last told status and their status now (offline when hidden), which becomes the
    last told: a change shows as the two differing, to one caller only."""
    now = _now_ms()
    if settings.REDIS_URL:
        keys = [_key(user_id), _idle_key(user_id), _status_key(user_id)]
        before, status = redis_client().register_script(_STATUS)(
            keys=keys, args=[now, int(hidden), _STATUS_TTL]
        )
        return before.decode(), status.decode()
    with _local_lock:
        status = OFFLINE if hidden else _local_status_now(user_id, now)
        before = _local_status.get(user_id, OFFLINE)
        _local_status[user_id] = status
        return before, status


def _local_status_now(user_id: int, now: int) -> str:
    live = {s for s, expiry in _local.get(user_id, {}).items() if expiry > now}
    if not live:
        return OFFLINE
    return IDLE if live <= _local_idle.get(user_id, set()) else ONLINE


def statuses(*, user_ids: list[int]) -> dict[int, str]:
    """Each user's status now, ignoring whether they hide it (the caller decides)."""
    now = _now_ms()
    if not settings.REDIS_URL:
        with _local_lock:
            return {user_id: _local_status_now(user_id, now) for user_id in user_ids}
    pipe = redis_client().pipeline(transaction=False)
    for user_id in user_ids:
        pipe.hgetall(_key(user_id)).smembers(_idle_key(user_id))
    replies = pipe.execute()
    found = {}
    for index, user_id in enumerate(user_ids):
        entries, idle = replies[2 * index], replies[2 * index + 1]
        live = {s for s, expiry in entries.items() if int(expiry) > now}
        found[user_id] = OFFLINE if not live else (IDLE if live <= idle else ONLINE)
    return found


def expired_users(*, most: int = 1000) -> dict[int, float]:
    """Claim the users whose every socket entry has expired since they were last seen live (a
    process that stopped renewing them): user id -> when their last entry expired (s)."""
    now = _now_ms()
    if settings.REDIS_URL:
        found = redis_client().register_script(_EXPIRED)(keys=[_expiry_key()], args=[now, most])
        return {int(found[i]): int(found[i + 1]) / 1000 for i in range(0, len(found), 2)}
    with _local_lock:
        expired = {}
        for user_id, entries in _local.items():
            if _local_status.get(user_id, OFFLINE) != OFFLINE and all(
                expiry <= now for expiry in entries.values()
            ):
                expired[user_id] = max(entries.values(), default=now) / 1000
        return dict(list(expired.items())[:most])
