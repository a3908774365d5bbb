"""waitress's own limits, when the gateway listens with no proxy in front (issue 14, finding 8):
slow connections (slowloris) do not stop it answering, a big body is refused before it is read,
and a connection that never finishes its call is closed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway
from tests.support.flood import SEED, provisioning_path, slow_connections


def _start(demo_ldif: Path, tmp_path: Path, **env: str) -> RunningGateway:
    store = {"GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}", **env}
    return start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gateway.log", env=store)


@pytest.fixture
def exposed(demo_ldif: Path, tmp_path: Path) -> Iterator[RunningGateway]:
    gateway = _start(demo_ldif, tmp_path, GATEWAY_SERVER__CHANNEL_TIMEOUT="3")
    yield gateway
    stop_gateway(gateway)


def _address(gateway: RunningGateway) -> tuple[str, int]:
    parts = urlsplit(gateway.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_150_slow_connections_do_not_stop_the_gateway_answering(exposed: RunningGateway) -> None:
    # Before: 98 such connections filled waitress's connection limit (100, counted over both
    # listeners' sockets) and the next call waited for ever.
    slow = slow_connections(exposed.base_url, 150)
    try:
        started = time.monotonic()
        status, _, body = exposed.get(provisioning_path(SEED))
        assert status == 200 and json.loads(body)["sipaccounts"][0]["sipusername"] == "1001"
        assert time.monotonic() - started < 2
    finally:
        for sock in slow:
            sock.close()


def test_a_connection_that_never_finishes_its_call_is_closed(exposed: RunningGateway) -> None:
    # server.channel_timeout = 3 here: half a request line and silence, or a byte every second
    # (which keeps the connection "active" for waitress), are both cut within a few seconds.
    silent = slow_connections(exposed.base_url, 1)[0]
    trickle = slow_connections(exposed.base_url, 1)[0]
    deadline = time.monotonic() + 15
    closed = {"silent": False, "trickle": False}
    try:
        while time.monotonic() < deadline and not all(closed.values()):
            for name, sock in (("silent", silent), ("trickle", trickle)):
                if closed[name]:
                    continue
                try:
                    if name == "trickle":
                        sock.sendall(b"g")
                    sock.settimeout(0.05)
                    closed[name] = sock.recv(4096) == b"" or closed[name]
                except TimeoutError:
                    pass
                except OSError:  # reset: closed
                    closed[name] = True
            time.sleep(0.5)
        assert closed == {"silent": True, "trickle": True}
    finally:
        silent.close()
        trickle.close()


def test_a_300_mb_post_is_refused_before_its_body_is_read(exposed: RunningGateway) -> None:
    # Before: waitress read the whole body into a temporary file, then the app answered 405.
    with socket.create_connection(_address(exposed), timeout=5) as sock:
        sock.sendall(b"POST /provisioning HTTP/1.1\r\nHost: x\r\nContent-Length: 314572800\r\n\r\n" + b"x" * 65536)
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert time.monotonic() - started < 2


def test_an_oversized_request_header_is_refused(exposed: RunningGateway) -> None:
    with socket.create_connection(_address(exposed), timeout=5) as sock:
        sock.sendall(b"GET /provisioning HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert sock.recv(4096).split(b" ", 2)[1] == b"431"
