"""The stale-password shield's memory of passwords that already failed (DESIGN §6).

The app re-sends its saved password on every foreground. Once that password has failed for a
device, binding it again can only fail again, and each failure counts towards the directory's
lockout. So the gateway remembers, **in this process's memory only**, a keyed hash of
(deviceId, password-change marker, password) for binds that failed, and answers the same
combination again without binding. The key is random per process and never written anywhere;
entries expire; nothing reaches the device store. A different password (the user typed the new
one) or a new password change is a different entry and is bound normally.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


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

    def _digest(self, device_id: str, marker: str | None, password: str) -> bytes:
        message = "\x00".join((device_id, marker or "", password)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def remember(self, device_id: str, marker: str | None, password: str) -> None:
        digest = self._digest(device_id, marker, password)
        with self._lock:
            self._entries[digest] = self._clock() + self._ttl
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def failed_before(self, device_id: str, marker: str | None, password: str) -> bool:
        digest = self._digest(device_id, marker, password)
        with self._lock:
            expires = self._entries.get(digest)
            if expires is None:
                return False
            if expires < self._clock():
                del self._entries[digest]
                return False
            return True

    def __repr__(self) -> str:
        return f"FailedPasswordMemory({len(self._entries)} entries)"
