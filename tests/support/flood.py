"""Hostile clients for the abuse-resistance tests and benchmarks (issue 14, findings 3 and 8).

``Flood`` keeps N keep-alive connections busy with failing provisioning calls (each answer read
before the next call); ``slow_connections`` opens connections that send half a request line and
stop (slowloris); ``timed_calls`` makes a legitimate call repeatedly from another loopback address
(Linux routes all of 127/8 to lo) and returns each call's time in milliseconds.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlencode, urlsplit

PASSWORD = "7578743843"
SEED = {"username": "jbloggs", "password": PASSWORD, "reprovision": "false", "deviceId": "3kQs875391li29"}
#: The attackers' calls: unknown users and wrong passwords for users other than the legitimate one.
FAILING = (
    {"username": "nobody-{n}", "password": "Guess-{n}"},
    {"username": "asmith", "password": "Wrong-{n}"},
    {"username": "tguest", "password": "Wrong-{n}"},
)
LEGIT_SOURCE = "127.0.0.2"


def _connection(
    base_url: str, source: str = "127.0.0.1", context: ssl.SSLContext | None = None, timeout: float = 30
) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, source_address=(source, 0), context=context
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))


def provisioning_path(params: dict[str, str]) -> str:
    return "/provisioning?" + urlencode(params)


class Flood:
    """``connections`` keep-alive connections from 127.0.0.1 sending failing calls back to back."""

    def __init__(self, base_url: str, connections: int, context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url
        self.connections = connections
        self.context = context
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._attack, args=(i,), daemon=True) for i in range(connections)]

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        time.sleep(0.5 if self.connections else 0)  # let the flood build up before measuring
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    def _attack(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        n = 0
        while not self._stop.is_set():
            n += 1
            template = FAILING[(index + n) % len(FAILING)]
            params = {k: v.format(n=f"{index}-{n}") for k, v in template.items()}
            params |= {"reprovision": "false", "deviceId": uuid.uuid4().hex}
            try:
                if conn is None:
                    conn = _connection(self.base_url, context=self.context)
                conn.request("GET", provisioning_path(params), headers={"User-Agent": "SessionTalk/6.0.0"})
                response = conn.getresponse()
                response.read()
                with self._lock:
                    self.statuses[response.status] += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                with self._lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()


def timed_calls(base_url: str, count: int, pause: float = 0.3, context: ssl.SSLContext | None = None) -> list[float]:
    """The seed's call ``count`` times from 127.0.0.2, a new connection each (as a phone makes it);
    the answer times in ms (connecting included). Each answer must be the seed's account."""
    times = []
    for i in range(count):
        params = dict(SEED, reprovision="false" if i == 0 else "true")
        started = time.perf_counter()
        conn = _connection(base_url, source=LEGIT_SOURCE, context=context)
        try:
            conn.request("GET", provisioning_path(params), headers={"User-Agent": "SessionTalk/6.0.0"})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200 and b'"sipusername": "1001"' in body, (response.status, body[:200])
        time.sleep(pause)
    return times


def percentile(times: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``times``."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def slow_connections(base_url: str, count: int) -> list[socket.socket]:
    """``count`` connections that each send half a request line and then nothing (slowloris)."""
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        sock.sendall(b"GET /provisioning?username=jbl")
        sockets.append(sock)
    return sockets
