"""Attempt limits (DESIGN §6), with the ``limits`` library: per account and per source address.

A bind is made only in the account's **turn**: at most one user bind per account is in flight
(a lock in this process, and in Redis across instances), and its failure is counted before the
next turn begins, so N simultaneous wrong passwords cost at most the configured number of binds.
Successful binds are never counted.

The account key is the resolved directory account, or the normalized typed name when there is
none, so an unknown name is throttled exactly like a real one. Memory storage by default (one
instance); a Redis URL shares the counts and the turns between instances. When Redis does not
answer, counting falls back to this instance's memory until Redis is back: limits stay enforced
per instance, logins keep working, and a warning is logged.

Keys are chosen by callers (typed names, addresses), so the memory storage is bounded: expired
keys are dropped, and when it is full a *new* key is refused — the call counts as limited —
rather than evicting a live counter, which would let a flood wipe a victim's count.
"""

from __future__ import annotations

import bisect
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse, storage, strategies
from limits.errors import StorageError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
_RETRY_REDIS_AFTER = 30.0
#: Keys the memory storage holds at most (each ~0.5 KB: a bounded few tens of MB).
MEMORY_MAX_KEYS = 50_000
#: How long a call waits for its account's turn before it is answered as rate limited.
TURN_WAIT_SECONDS = 5.0
#: A turn's lease in Redis: longer than any bind (connect + receive timeouts), so a crashed
#: instance's turn ends by itself.
TURN_LEASE_SECONDS = 30.0


class Turn(enum.Enum):
    """What an account's turn allows."""

    BIND = "bind"  # the turn is this call's, and the limit allows a bind
    LIMITED = "limited"  # the turn is this call's, but the limit is reached
    BUSY = "busy"  # the turn did not come within the wait


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the account key and the caller's address."""

    account: str
    source: str


def account_key(user_key: str | None, typed_login: str) -> str:
    """The resolved account, else the typed name normalized (case, spaces, domain prefix)."""
    if user_key:
        return f"user:{user_key}"
    name = typed_login.strip().lower()
    return f"name:{name.rpartition(chr(92))[2]}"  # CORP\\jbloggs and jbloggs count together


class BoundedMemoryStorage(storage.MemoryStorage):
    """``limits``' memory storage, bounded: expired keys are dropped, new keys refused when full.

    The library's own clean-up runs a full scan every 10 ms while calls arrive and keeps every
    key it ever saw (an emptied list stays); here a sweep at most every ``sweep_every`` seconds
    trims expired entries and drops emptied keys.
    """

    def __init__(
        self, max_keys: int = MEMORY_MAX_KEYS, sweep_every: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.timer.cancel()
        self.max_keys = max_keys
        self._sweep_every = sweep_every
        self._clock = clock
        self._next_sweep = clock() + sweep_every
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's private hook
        if self._clock() >= self._next_sweep and self._sweeping.acquire(blocking=False):
            try:
                self.sweep()
            finally:
                self._sweeping.release()

    def sweep(self) -> None:
        """Drop expired entries, and keys left with none."""
        self._next_sweep = self._clock() + self._sweep_every
        now = time.time()  # the library stamps entries with time.time()
        for key in list(self.events):
            with self.locks[key]:
                events = self.events.get(key, [])
                live = bisect.bisect_left(events, -now, key=lambda entry: -entry.expiry)
                if live:
                    self.events[key] = events[:live]
                else:
                    self.events.pop(key, None)
            if key not in self.events:
                self.locks.pop(key, None)

    def refuses(self, key: str) -> bool:
        """Full, and ``key`` is not one of the keys it holds."""
        return len(self.events) >= self.max_keys and key not in self.events

    def __len__(self) -> int:
        return len(self.events)


class _TurnLocks:
    """One ``threading.Lock`` per key while anyone holds or waits for it; none kept after."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def holding(self, key: str, timeout: float) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        got = lock.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                lock.release()
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class AttemptLimiter:
    def __init__(
        self,
        per_account: str,
        per_source: str = "",
        storage_url: str = "",
        key_prefix: str = "sessiontalk-gateway",
        *,
        memory_max_keys: int = MEMORY_MAX_KEYS,
        turn_wait: float = TURN_WAIT_SECONDS,
    ) -> None:
        self._account_limit: RateLimitItem | None = parse(per_account) if per_account else None
        self._source_limit: RateLimitItem | None = parse(per_source) if per_source else None
        self.memory = BoundedMemoryStorage(memory_max_keys)
        self._memory = strategies.MovingWindowRateLimiter(self.memory)
        self._shared: strategies.MovingWindowRateLimiter | None = None
        self._redis: Any = None  # the shared storage's Redis client, for the turns
        if storage_url:
            shared = storage.storage_from_string(
                storage_url, key_prefix=key_prefix, wrap_exceptions=True, socket_timeout=1, socket_connect_timeout=1
            )
            self._shared = strategies.MovingWindowRateLimiter(shared)
            self._redis = getattr(shared, "storage", None)
        self._key_prefix = key_prefix
        self._shared_down_until = 0.0
        self._lock = threading.Lock()
        self._turns = _TurnLocks()
        self._turn_wait = turn_wait

    def allowed(self, attempt: Attempt) -> bool:
        """May this attempt go to the directory? (Nothing is counted here.)"""
        return all(self._call("test", item, key) for item, key in self._items(attempt))

    def failed(self, attempt: Attempt, typed_name: str = "") -> None:
        """Count a failed login against the account and the source address, and against the
        typed name too when the account is a resolved one (``typed_name``): a flood of one name
        is then refused before the directory is asked (``allowed`` on the typed name)."""
        for item, key in self._items(attempt):
            self._call("hit", item, key)
        name = account_key(None, typed_name) if typed_name else ""
        if self._account_limit is not None and name and name != attempt.account:
            self._call("hit", self._account_limit, f"account:{name}")

    @contextmanager
    def turn(self, attempt: Attempt) -> Iterator[Turn]:
        """The account's turn to bind, and whether the limit allows a bind in it.

        At most one turn per account is held at a time (in this process, and through Redis in
        every instance sharing it); a failure must be counted (``failed``) before the turn ends.
        A caller that cannot get the turn within the wait is told ``BUSY``.
        """
        key = f"turn:{attempt.account}"
        with self._turns.holding(key, self._turn_wait) as mine:
            if not mine:
                yield Turn.BUSY
                return
            with self._shared_turn(key) as shared:
                if not shared:
                    yield Turn.BUSY
                else:
                    yield Turn.BIND if self.allowed(attempt) else Turn.LIMITED

    @contextmanager
    def _shared_turn(self, key: str) -> Iterator[bool]:
        if self._redis is None or not self._shared_up():
            yield True
            return
        lock = self._redis.lock(
            f"{self._key_prefix}:{key}", timeout=TURN_LEASE_SECONDS, blocking_timeout=self._turn_wait, sleep=0.01
        )
        try:
            got = bool(lock.acquire())
        except RedisError as exc:
            self._shared_failed(exc)
            yield True  # this instance's own turn still holds
            return
        try:
            yield got
        finally:
            if got:
                try:
                    lock.release()
                except RedisError as exc:  # the lease runs out by itself
                    self._shared_failed(exc)

    @property
    def redis_client(self) -> Any:
        """The shared storage's Redis client (None without one): other shared memories use it."""
        return self._redis

    def _items(self, attempt: Attempt) -> list[tuple[RateLimitItem, str]]:
        items = []
        if self._account_limit is not None:
            items.append((self._account_limit, f"account:{attempt.account}"))
        if self._source_limit is not None and attempt.source:
            items.append((self._source_limit, f"source:{attempt.source}"))
        return items

    def _call(self, method: str, item: RateLimitItem, key: str) -> bool:
        if self._shared is not None and self._shared_up():
            try:
                return bool(getattr(self._shared, method)(item, "attempts", key))
            except StorageError as exc:
                self._shared_failed(exc.storage_error)
        if self.memory.refuses(item.key_for("attempts", key)):
            return False  # full: a new key counts as limited, and no live counter is evicted
        return bool(getattr(self._memory, method)(item, "attempts", key))

    def _shared_up(self) -> bool:
        return time.monotonic() >= self._shared_down_until

    def _shared_failed(self, error: BaseException) -> None:
        with self._lock:
            self._shared_down_until = time.monotonic() + _RETRY_REDIS_AFTER
        log.warning(
            "attempt-limit storage unreachable (%s); counting in this instance's memory for %ss",
            type(error).__name__,
            int(_RETRY_REDIS_AFTER),
        )
