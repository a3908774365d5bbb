"""End to end: a real ``python -m gateway serve`` process (waitress) driven over real HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LISTENING = re.compile(r"gateway listening on (http://[\d.]+:\d+)/provisioning")
ADMIN_LISTENING = re.compile(r"admin listening on (http://[\d.]+:\d+)/")


@dataclass
class RunningGateway:
    base_url: str
    process: subprocess.Popen[str]
    log_path: Path
    admin_url: str = ""

    def get(
        self, path_and_query: str, user_agent: str = "SessionTalk/6.0.0", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.base_url + path_and_query,
            headers={"User-Agent": user_agent, "Cache-Control": "max-age=0", "Connection": "close", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_gateway(
    args: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> RunningGateway:
    """Start ``python -m gateway serve ARGS --port 0`` and wait for its listening line."""
    with log_path.open("w") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", "0", "--admin-port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **(env or {})},
            cwd=cwd,
        )
    assert process.stdout is not None
    admin_url = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"gateway exited with {process.returncode}:\n{log_path.read_text()}")
        admin = ADMIN_LISTENING.search(line)
        if admin:
            admin_url = admin.group(1)
        found = LISTENING.search(line)
        if found:
            return RunningGateway(found.group(1), process, log_path, admin_url)
    process.kill()
    raise AssertionError("gateway did not start within 30 s")


def stop_gateway(gateway: RunningGateway) -> None:
    gateway.process.terminate()
    try:
        gateway.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()
    if gateway.process.stdout:
        gateway.process.stdout.close()


@pytest.fixture
def demo_gateway(demo_ldif: Path, tmp_path: Path) -> Iterator[RunningGateway]:
    store = {"GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}"}
    gateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gateway.log", env=store)
    yield gateway
    stop_gateway(gateway)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    """A TCP port nothing listens on right now (for servers the tests start)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
