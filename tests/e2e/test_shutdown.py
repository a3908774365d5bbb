"""Stopping ``serve`` (SIGTERM from systemd, Ctrl+C in a terminal) on a busy machine: the
listeners close first, every call already sent gets its whole answer, and the process exits 0
within ``server.shutdown_timeout``.

A real ``python -m gateway serve --demo-directory`` process; wrong-password calls take the
failure floor (``security.failure_floor_ms``; at most half the worker threads wait in it, the
other failures are answered at once), so calls are really in flight when the signal comes: each
has connected and sent its whole request before it. Every core runs a CPU burner
meanwhile (the quick start's Ctrl+C once took more than 15 s on a loaded machine).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway

FLOOR_MS = 1000  # a wrong-password answer takes this long (for threads / 2 of them at a time)
THREADS = 16
CALLS = 16  # 8 held by the floor for 1 s when the signal comes, 8 answered at once around it
BOUND = 10  # server.shutdown_timeout (the default)
GENERIC = "Sign-in failed. Check your username and password."


@pytest.fixture(scope="module")
def busy_machine() -> Iterator[None]:
    """One CPU-burning process per core for the whole module."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for burner in burners:
        burner.kill()
        burner.wait()


def gateway(demo_ldif: Path, tmp_path: Path, floor_ms: int = FLOOR_MS, bound: float = BOUND) -> RunningGateway:
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}",
        "GATEWAY_SECURITY__FAILURE_FLOOR_MS": str(floor_ms),
        "GATEWAY_ATTEMPTS__PER_ACCOUNT": "",  # no rate limit: every call is an ordinary failed sign-in
        "GATEWAY_ATTEMPTS__PER_SOURCE": "",
        "GATEWAY_SERVER__SHUTDOWN_TIMEOUT": str(bound),
    }
    args = ["--demo-directory", str(demo_ldif), "--threads", str(THREADS)]
    return start_gateway(args, tmp_path / "gateway.log", env=env)


def ended(running: RunningGateway) -> None:
    """The process gone (killed if the test failed before it exited) and its pipe closed."""
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()
    if running.process.stdout:
        running.process.stdout.close()


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def send_call(where: tuple[str, int], n: int) -> socket.socket:
    """Connect and send one whole wrong-password call; the answer is read later."""
    sock = socket.create_connection(where, timeout=30)
    query = f"username=jbloggs&password=wrong-{n}&reprovision=false&deviceId=phone-{n}"
    sock.sendall(
        f"GET /provisioning?{query} HTTP/1.1\r\nHost: gateway\r\nUser-Agent: SessionTalk/6.0.0\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """The status and JSON body, read to the end; (0, {}) when the gateway cut the connection."""
    data = b""
    with sock:
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            return 0, {}
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return 0, {}
    answer: dict[str, object] = json.loads(body)
    return int(head.split()[1]), answer


def refused_while_running(where: tuple[str, int], process: subprocess.Popen[str], within: float) -> bool:
    """Whether a new connection is refused while the process still runs (draining)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(where, timeout=1).close()
        except ConnectionRefusedError:
            return process.poll() is None
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("round_", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_answers_every_call_in_flight_then_exits_0(
    busy_machine: None, demo_ldif: Path, tmp_path: Path, signum: signal.Signals, round_: int
) -> None:
    running = gateway(demo_ldif, tmp_path)
    where = address(running.base_url)
    try:
        in_flight = [send_call(where, n) for n in range(CALLS)]
        with ThreadPoolExecutor(CALLS) as pool:
            answers = pool.map(read_answer, in_flight)
            signalled = time.monotonic()
            running.process.send_signal(signum)
            refused = refused_while_running(where, running.process, within=BOUND)
            answered = list(answers)
        code = running.process.wait(timeout=BOUND + 5)
        took = time.monotonic() - signalled
    finally:
        ended(running)
    log = running.log()
    assert [status for status, _ in answered] == [200] * CALLS, log
    assert all(answer["errmsg"] == GENERIC for _, answer in answered)
    assert refused, "a new connection was accepted after the signal (the listener stayed open)"
    assert code == 0, log
    assert took < BOUND, f"exited {took:.1f} s after the signal"
    assert "Traceback" not in log, log


def test_a_call_still_running_at_the_bound_is_cut_and_the_gateway_exits_0(
    busy_machine: None, demo_ldif: Path, tmp_path: Path
) -> None:
    running = gateway(demo_ldif, tmp_path, floor_ms=5000, bound=1)
    try:
        slow = send_call(address(running.base_url), 1)
        time.sleep(0.5)  # being answered
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        code = running.process.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        ended(running)
    assert read_answer(slow) == (0, {})
    assert code == 0, running.log()
    assert took < 4, f"exited {took:.1f} s after the signal, bound 1 s"
    assert "1 call(s) still running" in running.log()


def test_a_second_ctrl_c_cuts_the_wait_and_exits_1(busy_machine: None, demo_ldif: Path, tmp_path: Path) -> None:
    running = gateway(demo_ldif, tmp_path, floor_ms=5000, bound=BOUND)
    try:
        slow = send_call(address(running.base_url), 1)
        time.sleep(0.5)  # being answered
        running.process.send_signal(signal.SIGINT)
        time.sleep(0.5)  # draining: waiting for the call
        assert running.process.poll() is None
        signalled = time.monotonic()
        running.process.send_signal(signal.SIGINT)
        code = running.process.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        ended(running)
    assert read_answer(slow) == (0, {})
    assert code == 1, running.log()
    assert took < 3, f"exited {took:.1f} s after the second Ctrl+C"
    assert "still running after a second stop request are cut" in running.log()
