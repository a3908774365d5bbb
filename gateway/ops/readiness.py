"""``/readyz``: can this instance answer calls right now? Each directory server (service-account
bind) and the store, each within a timeout. The probes are the directory's and the store's own
(``gateway.directory.probes``, ``SqlDeviceStore.ping``), handed in by the composition root.

A probe opens a new TLS connection and binds to every directory server, so its result is kept for
``READINESS_CACHE_SECONDS``: however often (and however many at once) ``/readyz`` is called, each
server sees at most one probe connection per period. Concurrent calls wait for the probe under
way and share its result."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: How long one probe's result answers ``/readyz`` (ready or not), in seconds.
READINESS_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Probe:
    name: str  # what a reader may see: "directory server 1", or its URL when allowed
    check: Callable[[], None]  # raises when not ready


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    failed: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready", "failed": list(self.failed)}


class Readiness:
    def __init__(
        self,
        probes: list[Probe],
        timeout: float,
        *,
        cache_seconds: float = READINESS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = probes
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, ReadinessReport] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, len(probes)), thread_name_prefix="readyz")

    def report(self) -> ReadinessReport:
        """The last probe's result while it is fresh, else a new probe's (one at a time)."""
        with self._lock:
            if self._last is not None and self._clock() - self._last[0] < self._cache_seconds:
                return self._last[1]
            report = self._probe()
            self._last = (self._clock(), report)
            return report

    def _probe(self) -> ReadinessReport:
        futures = {self._pool.submit(probe.check): probe.name for probe in self._probes}
        done, pending = concurrent.futures.wait(futures, timeout=self._timeout)
        failed = [futures[f] for f in pending] + [futures[f] for f in done if f.exception() is not None]
        order = [probe.name for probe in self._probes]
        failed.sort(key=order.index)
        return ReadinessReport(not failed, tuple(failed))
