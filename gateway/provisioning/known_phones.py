"""The memory of known phones: each enrolled phone's last good password, as a keyed hash only
(DESIGN §6 and §9).

Smart lockout: a stranger's wrong passwords fill a user's attempt limit, but must never block a
phone the gateway knows. When a call is rate limited, the gateway asks this memory whether the
password is the one *this enrolled phone* last signed in with (then the phone gets the quiet
answer, ``update: false`` with no message), or one of the user's enrolled phones' passwords
(then a new phone of that user may still bind). The deviceId alone proves nothing: it would tell
a stranger that the user exists.

Entries are HMAC-SHA256 digests of (user key, deviceId or "*", password-change marker,
password) and expire; a moved marker makes every older entry of the user useless. Kept in this
process (a random key per process: empty after a restart, when phones simply bind again) or, when
attempt limits are shared through Redis, in the same Redis under a key derived from the store's
fingerprint key, which only the gateways hold. That Redis must not write its data to disk:
``redis_persistence_problem`` says when it does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)
#: How long a phone stays known without signing in again (apps foreground at least daily).
KNOWN_FOR_SECONDS = 14 * 24 * 3600
MAX_LOCAL_ENTRIES = 200_000
_ANY_DEVICE = "*"


class DigestSet(Protocol):
    """A set of digests whose members expire."""

    def add(self, digests: list[str], ttl: float) -> None: ...

    def __contains__(self, digest: object) -> bool: ...


class LocalDigests:
    """In this process's memory, bounded: the oldest entries go first."""

    def __init__(self, max_entries: int = MAX_LOCAL_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, digests: list[str], ttl: float) -> None:
        with self._lock:
            for digest in digests:
                self._entries[digest] = self._clock() + ttl
                self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            expires = self._entries.get(str(digest))
            if expires is None:
                return False
            if expires < self._clock():
                del self._entries[str(digest)]
                return False
            return True

    def __len__(self) -> int:
        return len(self._entries)


class RedisDigests:
    """In Redis, shared by every instance; while Redis does not answer, in this process."""

    def __init__(self, client: Any, prefix: str, fallback: LocalDigests | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = fallback or LocalDigests()

    def add(self, digests: list[str], ttl: float) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            for digest in digests:
                pipe.set(f"{self._prefix}:{digest}", b"1", px=int(ttl * 1000))
            pipe.execute()
        except RedisError as exc:
            log.warning("known-phone memory: Redis unreachable (%s); remembering in this instance", type(exc).__name__)
            self._fallback.add(digests, ttl)

    def __contains__(self, digest: object) -> bool:
        try:
            return bool(self._client.exists(f"{self._prefix}:{digest}")) or digest in self._fallback
        except RedisError:
            return digest in self._fallback


class KnownPhones:
    def __init__(
        self, digests: DigestSet | None = None, key: Callable[[], bytes] | None = None, ttl: float = KNOWN_FOR_SECONDS
    ) -> None:
        process_key = secrets.token_bytes(32)
        self._digests: DigestSet = digests if digests is not None else LocalDigests()
        self._key = key or (lambda: process_key)
        self._ttl = ttl

    def remember(self, user_key: str, device_id: str, marker: str | None, password: str, login: str = "") -> None:
        """``password`` (typed as ``login``) just signed this enrolled phone in."""
        key = self._key()
        digests = [
            _digest(key, user_key, device_id, marker, password),
            _digest(key, user_key, _ANY_DEVICE, marker, password),
        ]
        if login:
            digests.append(_digest(key, _typed(login), _ANY_DEVICE, None, password))
        self._digests.add(digests, self._ttl)

    def login_knows(self, login: str, password: str) -> bool:
        """Did a phone sign in with this login and password (before the directory is asked)?"""
        return _digest(self._key(), _typed(login), _ANY_DEVICE, None, password) in self._digests

    def phone_knows(self, user_key: str, device_id: str, marker: str | None, password: str) -> bool:
        """Is this the password this phone last signed in with?"""
        return _digest(self._key(), user_key, device_id, marker, password) in self._digests

    def user_knows(self, user_key: str, marker: str | None, password: str) -> bool:
        """Did one of the user's enrolled phones last sign in with this password?"""
        return _digest(self._key(), user_key, _ANY_DEVICE, marker, password) in self._digests

    def __repr__(self) -> str:
        return f"KnownPhones({type(self._digests).__name__})"


def _typed(login: str) -> str:
    """A typed login's own namespace (never equal to a directory key), normalized."""
    return "typed:" + login.strip().lower()


def _digest(key: bytes, user_key: str, device_id: str, marker: str | None, password: str) -> str:
    message = "\x00".join((user_key, device_id, marker or "", password)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def shared_key(fingerprint_key: bytes) -> bytes:
    """The memory's key in Redis, derived from the store's fingerprint key (never stored itself)."""
    return hmac.new(fingerprint_key, b"sessiontalk-gateway known phones", hashlib.sha256).digest()


def redis_persistence_problem(client: Any) -> str | None:
    """Why this Redis would write the known-phone memory to disk, or None when it would not."""
    try:
        save = client.config_get("save").get("save", "")
        appendonly = client.config_get("appendonly").get("appendonly", "no")
    except RedisError as exc:
        return f"could not read its persistence settings ({type(exc).__name__}): make sure it keeps nothing on disk"
    problems = []
    if str(save).strip():
        problems.append(f'RDB snapshots are on (save {save!r}; set save "")')
    if str(appendonly).lower() == "yes":
        problems.append("the append-only file is on (set appendonly no)")
    return "; ".join(problems) or None
