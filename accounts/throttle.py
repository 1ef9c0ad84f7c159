"""Failed log-ins counted per account and per client address in Django's cache."""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    return f"login-failures:account:{digest}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


def login_retry_after(*, username: str, address: str) -> int:
    """Seconds until this account or address may try again; 0 when it may try now."""
    keys = [_account_key(username), _address_key(address)]
    stored = cache.get_many([*keys, *(f"{key}:until" for key in keys)])
    now = time.time()
    waits = [
        stored.get(f"{key}:until", now + settings.LOGIN_THROTTLE_WINDOW) - now
        for key in keys
        if stored.get(key, 0) >= settings.LOGIN_THROTTLE_LIMIT
    ]
    return max(0, math.ceil(max(waits, default=0)))


def login_failure_record(*, username: str, address: str) -> None:
    """Count a failed log-in against the account and the address, for one window."""
    window = settings.LOGIN_THROTTLE_WINDOW
    for key in (_account_key(username), _address_key(address)):
        cache.add(f"{key}:until", time.time() + window, timeout=window)
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # the window ended between add and incr
            cache.set(key, 1, timeout=window)


def login_success_record(*, username: str) -> None:
    """Forget the account's failures; the address keeps its count."""
    key = _account_key(username)
    cache.delete_many([key, f"{key}:until"])
