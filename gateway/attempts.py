"""Attempt limits (DESIGN §6), with the ``limits`` library: per account and per source address.

Checked before a bind, counted when a login fails. The account key is the resolved directory
account, or the normalized typed name when there is none, so an unknown name is throttled exactly
like a real one. Memory storage by default (one instance); a Redis URL shares the counts between
instances. When Redis does not answer, counting falls back to this instance's memory until Redis
is back: limits stay enforced per instance, logins keep working, and a warning is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse, storage, strategies
from limits.errors import StorageError

log = logging.getLogger(__name__)
_RETRY_REDIS_AFTER = 30.0


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


class AttemptLimiter:
    def __init__(
        self,
        per_account: str,
        per_source: str = "",
        storage_url: str = "",
        key_prefix: str = "sessiontalk-gateway",
    ) -> None:
        self._account_limit: RateLimitItem | None = parse(per_account) if per_account else None
        self._source_limit: RateLimitItem | None = parse(per_source) if per_source else None
        self._memory = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._shared: strategies.MovingWindowRateLimiter | None = None
        if storage_url:
            shared = storage.storage_from_string(
                storage_url, key_prefix=key_prefix, wrap_exceptions=True, socket_timeout=1, socket_connect_timeout=1
            )
            self._shared = strategies.MovingWindowRateLimiter(shared)
        self._shared_down_until = 0.0
        self._lock = threading.Lock()

    def allowed(self, attempt: Attempt) -> bool:
        """May this attempt go to the directory? (Nothing is counted here.)"""
        return all(self._call("test", item, key) for item, key in self._items(attempt))

    def failed(self, attempt: Attempt) -> None:
        """Count a failed login against the account and the source address."""
        for item, key in self._items(attempt):
            self._call("hit", item, key)

    def _items(self, attempt: Attempt) -> list[tuple[RateLimitItem, str]]:
        items = []
        if self._account_limit is not None:
            items.append((self._account_limit, f"account:{attempt.account}"))
        if self._source_limit is not None and attempt.source:
            items.append((self._source_limit, f"source:{attempt.source}"))
        return items

    def _call(self, method: str, item: RateLimitItem, key: str) -> bool:
        limiter = self._limiter()
        try:
            return bool(getattr(limiter, method)(item, "attempts", key))
        except StorageError as exc:
            with self._lock:
                self._shared_down_until = time.monotonic() + _RETRY_REDIS_AFTER
            log.warning(
                "attempt-limit storage unreachable (%s); counting in this instance's memory for %ss",
                type(exc.storage_error).__name__,
                int(_RETRY_REDIS_AFTER),
            )
            return bool(getattr(self._memory, method)(item, "attempts", key))

    def _limiter(self) -> strategies.MovingWindowRateLimiter:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            return self._shared
        return self._memory
