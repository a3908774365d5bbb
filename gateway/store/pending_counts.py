"""Failure counts waiting to be written: the write-behind half of the audit trail's counted rows.

A failed call that concerns no known device (unknown user, rate limited, empty password,
directory outage) used to cost a write transaction of its own; under a flood every such call
queued on the store's one writer (SQLite) and a real phone's sign-in waited behind them. Now the
call only adds one to a counter in memory, and a background thread writes the counts of the
last second in one transaction. What is lost on a crash: at most one second of counts of calls
that proved nothing.

Keys are bounded: past ``max_keys`` distinct (minute, source, outcome, user) counters, further
calls are counted under the source ``(other)`` of their minute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from gateway.models import Event

OTHER = "(other)"
MAX_PENDING_KEYS = 10_000

#: (minute, source, outcome, user key, login): the columns of a counted row.
_Key = tuple[str, str, str, str, str]


class PendingCounts:
    def __init__(self, max_keys: int = MAX_PENDING_KEYS) -> None:
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._pending: dict[_Key, tuple[Event, int]] = {}

    def add(self, event: Event) -> None:
        key = _key_of(event)
        with self._lock:
            if key not in self._pending and len(self._pending) >= self._max_keys:
                event = replace(event, source=OTHER, user_key="", login="")
                key = _key_of(event)
            first, count = self._pending.get(key, (event, 0))
            self._pending[key] = (first, count + 1)

    def take(self) -> list[tuple[Event, int]]:
        """Every pending count (the first event of each, and how many), emptied."""
        with self._lock:
            taken, self._pending = list(self._pending.values()), {}
        return taken

    def give_back(self, counts: list[tuple[Event, int]]) -> None:
        """Counts a failed write did not store: kept for the next write (within the bound)."""
        for event, count in counts:
            key = _key_of(event)
            with self._lock:
                if key in self._pending or len(self._pending) < self._max_keys:
                    first, pending = self._pending.get(key, (event, 0))
                    self._pending[key] = (first, pending + count)

    def __len__(self) -> int:
        return len(self._pending)


def _key_of(event: Event) -> _Key:
    minute = event.at.replace(second=0, microsecond=0).isoformat()
    return (minute, event.source, event.outcome, event.user_key, event.login if event.user_key else "")


class Flusher:
    """Calls ``flush`` every ``interval`` seconds on a daemon thread, until ``stop``."""

    def __init__(self, flush: Callable[[], None], interval: float = 1.0) -> None:
        self._flush = flush
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="store-counts", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval):
            self._flush()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._flush()
