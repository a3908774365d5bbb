"""Hostile clients for the abuse-resistance tests and benchmarks (issue 14, findings 3 and 8).

``Flood`` keeps N keep-alive connections busy with failing provisioning calls (each answer read
before the next call); ``slow_connections`` opens connections that send half a request line and
stop (slowloris); ``timed_calls`` makes a legitimate call repeatedly from another loopback address
(Linux routes all of 127/8 to lo) and returns each call's time in milliseconds.
"""

from __future__ import annotations

import http.client
import multiprocessing
import multiprocessing.queues
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
    """``connections`` keep-alive connections from 127.0.0.1 sending failing calls back to back.

    The attackers run in a child process of their own (raw sockets, one thread per connection), so
    they do not compete with the measured calls for this process's interpreter lock."""

    def __init__(self, base_url: str, connections: int, cafile: str | None = None) -> None:
        self.base_url = base_url
        self.connections = connections
        self.cafile = cafile
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._results: multiprocessing.queues.Queue[tuple[dict[int, int], int]] = context.Queue()
        self._process = context.Process(target=self._run, daemon=True)

    def __enter__(self) -> Flood:
        if self.connections:
            self._process.start()
            time.sleep(1.0)  # let the flood build up before measuring
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.connections:
            return
        self._stop.set()
        statuses, errors = self._results.get(timeout=60)
        self._process.join(timeout=10)
        self.statuses.update(statuses)
        self.errors = errors

    @property
    def calls(self) -> int:
        return sum(self.statuses.values())

    def _run(self) -> None:
        statuses: Counter[int] = Counter()
        errors = [0]
        lock = threading.Lock()
        threads = [
            threading.Thread(target=self._attack, args=(i, statuses, errors, lock), daemon=True)
            for i in range(self.connections)
        ]
        for thread in threads:
            thread.start()
        self._stop.wait()
        for thread in threads:
            thread.join(timeout=35)
        self._results.put((dict(statuses), errors[0]))

    def _attack(self, index: int, statuses: Counter[int], errors: list[int], lock: threading.Lock) -> None:
        parts = urlsplit(self.base_url)
        assert parts.hostname is not None and parts.port is not None
        context = ssl.create_default_context(cafile=self.cafile) if parts.scheme == "https" else None
        sock: socket.socket | None = None
        reader = b""
        n = 0
        while not self._stop.is_set():
            n += 1
            template = FAILING[(index + n) % len(FAILING)]
            params = {k: v.format(n=f"{index}-{n}") for k, v in template.items()}
            params |= {"reprovision": "false", "deviceId": uuid.uuid4().hex}
            request = (
                f"GET {provisioning_path(params)} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                "User-Agent: SessionTalk/6.0.0\r\n\r\n"
            ).encode()
            try:
                if sock is None:
                    raw = socket.create_connection((parts.hostname, parts.port), timeout=30)
                    sock = context.wrap_socket(raw, server_hostname=parts.hostname) if context else raw
                    reader = b""
                sock.sendall(request)
                status, reader, close = _read_response(sock, reader)
                with lock:
                    statuses[status] += 1
                if close:
                    sock.close()
                    sock = None
            except (OSError, ValueError):
                with lock:
                    errors[0] += 1
                if sock is not None:
                    sock.close()
                sock = None
                time.sleep(0.01)
        if sock is not None:
            sock.close()


def _read_response(sock: socket.socket, buffered: bytes) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response with a Content-Length: (status, bytes read beyond it, connection closes)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed mid-response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed mid-body")
        rest += chunk
    return int(lines[0].split()[1]), rest[length:], headers.get("connection", "").lower() == "close"


def timed_calls(base_url: str, count: int, pause: float = 0.3, context: ssl.SSLContext | None = None) -> list[float]:
    """The seed's call ``count`` times from 127.0.0.2, a new connection each (as a phone makes it);
    the answer times in ms (connecting included). The first answer must be the seed's account, each
    later one (a reprovision: ``update: false`` when nothing changed) must carry no error."""
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
        expected = b'"sipusername": "1001"' if i == 0 else b'"errmsg": ""'
        assert response.status == 200 and expected in body, (response.status, body[:200])
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
