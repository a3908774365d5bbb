"""The listeners on one waitress loop, and the graceful stop ``serve`` and the Windows service share.

waitress has no graceful stop of its own (its ``close`` cuts calls in progress, and Ctrl+C cancels
the ones still queued). ``Listeners.serve`` runs waitress's loop until ``stop()``, then drains:

1. accept the connections the kernel already completed (their callers have sent their calls),
   then close every listening socket: a new connection is refused from here on;
2. keep the loop running until every call received has been answered and its answer sent, closing
   idle keep-alive connections (and each connection once its answer is out), at most
   ``server.shutdown_timeout`` seconds;
3. close what is left (calls still running then are cut) and stop the worker threads.

``stop()`` is safe from a signal handler and from any thread; a second ``stop()`` cuts the drain
short. ``stop_on_signals`` makes SIGINT and SIGTERM (and SIGBREAK on Windows) call it.

Every listener gets waitress limits fit for a GET-only service that may face the internet
(docs/security.md, "Exposed without a proxy"): a body over 1 KB is a 413 as soon as its headers
are read (nothing is buffered), a request line and headers over 16 KB a 431; ``server.connection_limit``
connections at most (counted over both listeners: they share one socket map), on ``poll()`` where
the platform has it (``select()`` stops at 1024 descriptors, 512 on Windows); a connection idle for
``server.channel_timeout`` seconds is closed, and so is one that has taken that long to send one
call in full (slowloris: waitress's own timeout counts any byte as activity).
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from gateway.web.fair_queue import fair_dispatcher

log = logging.getLogger(__name__)

#: How often the loop looks at the stop flag even when nothing wakes it (seconds).
_TICK = 0.2
#: The most connections taken from the kernel's accept queue when closing a listener.
_BACKLOG_LIMIT = 4096
#: How long a connection that has sent nothing yet may take to send its call during the drain.
_FIRST_BYTES_GRACE = 1.0
#: waitress limits every listener gets (the provisioning call is a GET with a short query string).
REQUEST_LIMITS: dict[str, Any] = {
    "max_request_body_size": 1024,  # a bigger declared body: 413 before any of it is read
    "max_request_header_size": 16384,  # request line + headers (IIS's http.sys default); beyond: 431
}
#: ``select()`` handles descriptors below 512 on Windows (CPython's FD_SETSIZE there).
_SELECT_CONNECTIONS = 500
#: How often unfinished calls are looked for (seconds).
_SWEEP = 1.0


class Listeners:
    """waitress servers sharing one socket map and loop, served in the calling thread."""

    def __init__(self, shutdown_timeout: float, connection_limit: int = 1000, channel_timeout: int = 30) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.limits = waitress_limits(connection_limit, channel_timeout)
        self._arriving: dict[int, tuple[Any, Any, float]] = {}  # id(channel): (channel, call, first seen)
        self._map: dict[int, Any] = {}
        self._servers: list[BaseWSGIServer] = []
        self._named: dict[str, BaseWSGIServer] = {}
        self._stopping = False
        self._forced = False
        self._cut_short = False

    def add(self, name: str, app: Callable[..., Any], **options: Any) -> BaseWSGIServer:
        """Listen for the WSGI ``app`` now (``options``: waitress's adjustments); ``name`` finds it
        again (``named``). A host name with several addresses gets a server for each. ``self.limits``
        apply unless ``options`` name them."""
        before = set(self._map)
        dispatcher = fair_dispatcher(options.get("threads", 4), options.get("trusted_proxy"))
        create_server(app, map=self._map, _dispatcher=dispatcher, **{**self.limits, **options})
        added = [s for fd, s in self._map.items() if fd not in before and isinstance(s, BaseWSGIServer)]
        self._servers.extend(added)
        self._named[name] = added[0]
        return added[0]

    def named(self, name: str) -> BaseWSGIServer | None:
        """The (first) server added under ``name``."""
        return self._named.get(name)

    @property
    def servers(self) -> list[BaseWSGIServer]:
        """Every listening server, in the order added."""
        return list(self._servers)

    @property
    def forced(self) -> bool:
        """A second ``stop()`` cut calls in progress short (the drain did not wait for them)."""
        return self._cut_short

    def stop(self) -> None:
        """Begin the drain; a second call cuts it short. Safe from a signal handler or any thread."""
        if self._stopping:
            self._forced = True
        self._stopping = True
        self._wake()

    def serve(self) -> bool:
        """Answer calls until ``stop()``, then drain and close; True when no call was cut."""
        next_sweep = time.monotonic() + _SWEEP
        while not self._stopping and self._map:
            self._poll(_TICK)
            if time.monotonic() >= next_sweep:
                self._close_unfinished_calls()
                next_sweep = time.monotonic() + _SWEEP
        return self._drain()

    def close(self) -> None:
        """Close everything now (listeners that were never served)."""
        self._close_all()

    def _drain(self) -> bool:
        started = time.monotonic()
        deadline = started + self.shutdown_timeout
        for server in self._servers:
            _close_listener(server)
        log.info("stopping: listeners closed, waiting up to %gs for calls in progress", self.shutdown_timeout)
        self._poll(0)  # read what the connections just accepted have sent
        while True:
            self._close_idle_connections()
            busy = self._busy()
            if not busy:
                break
            if self._forced or time.monotonic() >= deadline:
                self._cut_short = self._forced
                why = "a second stop request" if self._forced else f"{self.shutdown_timeout:g}s"
                log.warning("stopping: %d call(s) still running after %s are cut", busy, why)
                self._close_all(wait=0.1)
                return False
            self._poll(min(_TICK / 4, max(0.0, deadline - time.monotonic())))
        self._close_all(wait=1)
        log.info("stopped: every call answered (%.1fs)", time.monotonic() - started)
        return True

    def _busy(self) -> int:
        """Calls received and not yet fully answered: on open connections, or still on a worker."""
        now = time.time()
        channels = sum(1 for c in self._channels() if _in_progress(c, now))
        running = 0
        for dispatcher in self._dispatchers():
            with dispatcher.lock:
                running += len(dispatcher.queue) + dispatcher.active_count
        return max(channels, running)

    def _close_unfinished_calls(self) -> None:
        """Close each connection that has been sending one call for more than its ``channel_timeout``
        (a byte now and then keeps it "active" for waitress's own idle timeout)."""
        now = time.monotonic()
        arriving: dict[int, tuple[Any, Any, float]] = {}
        for channel in self._channels():
            call = channel.request  # the call being received; None once received in full
            if call is None or channel.requests or channel.will_close:
                continue
            seen = self._arriving.get(id(channel))
            if seen is None or seen[0] is not channel or seen[1] is not call:
                seen = (channel, call, now)
            arriving[id(channel)] = seen
            if now - seen[2] > channel.adj.channel_timeout:
                channel.will_close = True  # closed by the loop on its next turn, as waitress's own timeout does
        self._arriving = arriving

    def _close_idle_connections(self) -> None:
        now = time.time()
        for channel in self._channels():
            if not _in_progress(channel, now):
                channel.handle_close()

    def _channels(self) -> list[Any]:
        servers = set(map(id, self._servers))
        return [c for c in list(self._map.values()) if id(getattr(c, "server", None)) in servers]

    def _dispatchers(self) -> list[Any]:
        found: dict[int, Any] = {}
        for server in self._servers:
            found.setdefault(id(server.task_dispatcher), server.task_dispatcher)
        return list(found.values())

    def _close_all(self, wait: float = 1) -> None:
        wasyncore.close_all(self._map, ignore_all=True)  # listeners, connections and wake-up pipes
        for dispatcher in self._dispatchers():
            dispatcher.shutdown(timeout=wait)  # idle worker threads end; running ones are daemons

    def _poll(self, timeout: float) -> None:
        adjustments = self._servers[0].adj if self._servers else None
        if adjustments is not None and adjustments.asyncore_use_poll:
            wasyncore.poll2(timeout, self._map)
        else:
            wasyncore.poll(timeout, self._map)

    def _wake(self) -> None:
        # A byte down the loop's wake-up pipe (no lock taken: fine inside a signal handler).
        if self._servers:
            with contextlib.suppress(OSError):  # already closed: the loop has ended
                self._servers[0].trigger.pull_trigger()


def waitress_limits(connection_limit: int, channel_timeout: int) -> dict[str, Any]:
    """waitress's adjustments for the limits above; raises the process's open-file limit (POSIX) so
    ``connection_limit`` connections fit."""
    use_poll = hasattr(select, "poll")
    if not use_poll:
        connection_limit = min(connection_limit, _SELECT_CONNECTIONS)
    _allow_open_files(connection_limit + 100)  # and the store, the directory, logs and the wake-up pipes
    return {
        **REQUEST_LIMITS,
        "connection_limit": connection_limit,
        "channel_timeout": channel_timeout,
        "cleanup_interval": max(1, min(30, channel_timeout // 3)),
        "asyncore_use_poll": use_poll,
    }


def _allow_open_files(wanted: int) -> None:
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < wanted:
            log.warning("open-file limit %d: fewer than server.connection_limit connections may fit", target)


def _close_listener(server: BaseWSGIServer) -> None:
    """Take what the kernel already accepted, then close the listening socket (not the wake-up pipe)."""
    if not server.accepting:
        return
    for _ in range(_BACKLOG_LIMIT):
        before = len(server.active_channels)
        server.handle_accept()
        if len(server.active_channels) == before:
            break
    server.accepting = False
    wasyncore.dispatcher.close(server)


def _in_progress(channel: Any, now: float) -> bool:
    """A call on this connection is received (or being received) and not yet fully sent back, or
    the connection is new and its call may still be on its way."""
    return bool(
        channel.requests
        or channel.request is not None
        or channel.total_outbufs_len
        or channel.close_when_flushed
        or channel.will_close
        or (channel.last_activity == channel.creation_time and now - channel.creation_time < _FIRST_BYTES_GRACE)
    )


@contextlib.contextmanager
def stop_on_signals(listeners: Listeners) -> Iterator[None]:
    """SIGINT (Ctrl+C), SIGTERM (systemd's stop) and SIGBREAK (Ctrl+Break) call ``listeners.stop()``
    inside this block; the previous handlers come back after it. Python lets only the main thread
    set signal handlers: elsewhere (a Windows service's thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        listeners.stop()

    signals = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGBREAK") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
