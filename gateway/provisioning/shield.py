"""The stale-password shield's memory of passwords that already failed (DESIGN §6).

The app re-sends its saved password on every foreground. Once that password has failed for a
device, binding it again can only fail again, and each failure counts towards the directory's
lockout. So the gateway remembers, **in this process's memory only**, a keyed hash of
(scope, password-change marker, password) for binds that failed, and answers the same
combination again without binding. A scope is one device (``device:<deviceId>``: that phone
never binds the same failed password twice) or, for a *saved* password that failed on an
enrolled phone, the whole user (``user:<key>``: the user's other phones, which saved the same
password, are told "sign in again" without a bind — at most one failed bind per user per
password change, even where the directory shows no password-change marker). The key is random
per process and never written anywhere; entries expire; nothing reaches the device store. A
different password (the user typed the new one) or a new password change is a different entry
and is bound normally.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable


class FailedPasswordMemory:
    def __init__(
        self,
        ttl_seconds: float = 24 * 3600,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, scope: str, marker: str | None, password: str) -> bytes:
        message = "\x00".join((scope, marker or "", password)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def remember(self, scopes: Iterable[str], marker: str | None, password: str) -> None:
        """This password failed (under this marker) for each of ``scopes``."""
        with self._lock:
            for scope in scopes:
                digest = self._digest(scope, marker, password)
                self._entries[digest] = self._clock() + self._ttl
                self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def failed_before(self, scope: str, marker: str | None, password: str) -> bool:
        digest = self._digest(scope, marker, password)
        with self._lock:
            expires = self._entries.get(digest)
            if expires is None:
                return False
            if expires < self._clock():
                del self._entries[digest]
                return False
            return True

    @staticmethod
    def device_scope(device_id: str) -> str:
        return f"device:{device_id}"

    @staticmethod
    def user_scope(user_key: str) -> str:
        return f"user:{user_key}"

    def __repr__(self) -> str:
        return f"FailedPasswordMemory({len(self._entries)} entries)"
