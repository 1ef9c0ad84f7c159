"""Failed password checks counted per (account, address) pair and per address in Django's cache.

Never per account alone: a stranger's failures must not lock the owner out from elsewhere.
"""

import hashlib
import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# An IPv6 customer is usually given a /64: counting single addresses would give them 2**64 tries.
IPV6_PREFIX = 64


def client_address(request: HttpRequest) -> str:
    """The peer's address as the server saw it (Uvicorn rewrites it only for trusted proxies)."""
    address = request.META.get("REMOTE_ADDR", "")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def _pair_key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\n{address}".encode()).hexdigest()
    return f"login-failures:pair:{digest}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


def _limits(username: str | None, address: str) -> dict[str, int]:
    limits = {_address_key(address): settings.LOGIN_THROTTLE_ADDRESS_LIMIT}
    if username is not None:
        limits[_pair_key(username, address)] = settings.LOGIN_THROTTLE_LIMIT
    return limits


def login_retry_after(*, address: str, username: str | None = None) -> int:
    """Seconds until this address (for this account) may try again; 0 when it may try now."""
    limits = _limits(username, address)
    stored = cache.get_many([*limits, *(f"{key}:until" for key in limits)])
    now = time.time()
    waits = [
        stored.get(f"{key}:until", now + settings.LOGIN_THROTTLE_WINDOW) - now
        for key, limit in limits.items()
        if stored.get(key, 0) >= limit
    ]
    return max(0, math.ceil(max(waits, default=0)))


def login_failure_record(*, address: str, username: str | None = None) -> None:
    """Count a failed check against the address and the (account, address) pair, for one window."""
    window = settings.LOGIN_THROTTLE_WINDOW
    for key in _limits(username, address):
        cache.add(f"{key}:until", time.time() + window, timeout=window)
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, timeout=window)


def login_success_record(*, username: str, address: str) -> None:
    """Forget the pair's failures; the address keeps its count."""
    key = _pair_key(username, address)
    cache.delete_many([key, f"{key}:until"])
