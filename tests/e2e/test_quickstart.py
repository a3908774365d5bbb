"""docs/quickstart.md, typed as a newcomer types it: in a fresh copy of the project, each block
tagged ``<!-- quickstart: NAME -->`` runs with bash exactly as written (the virtual environment is
created and the package installed from PyPI for real), and every answer is the one the page shows.

The server runs in a network namespace of its own, so the page's fixed ports (8080, 9180) are
free whatever else runs on this machine; the install step runs outside it, with the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
QUICKSTART = PROJECT / "docs" / "quickstart.md"
BLOCK = re.compile(r"<!-- quickstart: ([\w-]+) -->\n```(\w*)\n(.*?)```", re.DOTALL)
STEPS = {
    "packages", "install", "serve", "serve-output", "call", "call-answer", "call-again", "call-again-answer",
    "wrong-password", "wrong-password-answer", "devices",
}  # fmt: skip
# A root login shell's PATH on Debian: the system's python3, not a developer's pyenv or venv.
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Brings the namespace's loopback interface up (no iproute2 needed), then waits for stdin to close.
LOOPBACK_UP = """
import fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, struct.pack("16sH14s", b"lo", 0, b"")))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))
print("up", flush=True)
sys.stdin.read()
"""


def quickstart_blocks() -> dict[str, str]:
    found = {name: body for name, _, body in BLOCK.findall(QUICKSTART.read_text())}
    assert set(found) == STEPS, "docs/quickstart.md's tagged blocks changed: update this test with it"
    return found


def fresh_copy(target: Path) -> Path:
    """The project as a clone of it would be: tracked and new files, nothing git ignores (.venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def newcomer_environment(state: Path) -> dict[str, str]:
    """This machine's environment (proxy and CA settings for PyPI) minus anything that would make
    the gateway or Python behave unlike on a fresh machine; the demo store in ``state``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEWAY_", "PYTHON", "VIRTUAL_ENV", "PYENV", "XDG_"))
    }
    return {**env, "PATH": DEBIAN_PATH, "XDG_STATE_HOME": str(state), "LANG": "C.UTF-8"}


class PrivateNetwork:
    """A network namespace with only a loopback interface; ``prefix`` runs a command inside it."""

    def __init__(self) -> None:
        self.prefix: list[str] = []
        self._holder: subprocess.Popen[str] | None = None
        if shutil.which("unshare") and shutil.which("nsenter"):
            holder = subprocess.Popen(
                ["unshare", "--net", sys.executable, "-c", LOOPBACK_UP],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert holder.stdout is not None
            if holder.stdout.readline().strip() == "up":
                self._holder = holder
                self.prefix = ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--"]
            else:
                holder.communicate(timeout=10)
        if not self.prefix and not ports_free(8080, 9180):
            pytest.skip("no network namespace (needs root) and port 8080 or 9180 is taken")

    def close(self) -> None:
        if self._holder is not None:
            self._holder.communicate(input="", timeout=10)


def ports_free(*ports: int) -> bool:
    import socket

    for port in ports:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


@pytest.fixture
def private_network() -> Iterator[PrivateNetwork]:
    network = PrivateNetwork()
    yield network
    network.close()


def run_block(block: str, cwd: Path, env: dict[str, str], prefix: list[str], timeout: int = 60) -> str:
    done = subprocess.run(
        [*prefix, "bash", "-euo", "pipefail", "-c", block],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"this block failed:\n{block}\n{done.stdout}{done.stderr}"
    return done.stdout


def installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return status.stdout.endswith("install ok installed")


def test_a_newcomer_gets_the_seed_answer_by_typing_the_quickstart(
    tmp_path: Path, private_network: PrivateNetwork
) -> None:
    steps = quickstart_blocks()
    # Step 1 needs root and Debian's mirrors; tests/run.sh installed the same packages here.
    wanted = re.search(r"apt-get install -y (.+)", steps["packages"])
    assert wanted, "the packages block names no packages"
    assert [p for p in wanted.group(1).split() if not installed(p)] == []

    project = fresh_copy(tmp_path / "sessiontalk-gateway")
    env = newcomer_environment(tmp_path / "state")
    run_block(steps["install"], project, env, prefix=[], timeout=600)  # PyPI: outside the namespace
    assert (project / ".venv" / "bin" / "python").exists()

    inside = private_network.prefix
    server = subprocess.Popen(
        [*inside, "bash", "-euo", "pipefail", "-c", steps["serve"]],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        printed = [server.stdout.readline().rstrip("\n") for _ in steps["serve-output"].splitlines()]
        assert printed == steps["serve-output"].splitlines(), server.stderr.read() if server.poll() else printed

        for call in ("call", "call-again", "wrong-password"):
            answer = run_block(steps[call], project, env, inside)
            assert json.loads(answer) == json.loads(steps[f"{call}-answer"]), call

        recorded = run_block(steps["devices"], project, env, inside)
        # devices list: the directory user once, then each of their phones
        assert re.search(r"^uid=jbloggs,.*\n +3kQs875391li29 +enrolled ", recorded, re.MULTILINE), recorded
        # events: the wrong password on a new phone is counted per minute, the enrolment is a row
        outcomes = re.findall(r"^\S+ \S+  (\w+) +jbloggs ", recorded, re.MULTILINE)
        assert outcomes and outcomes[-1] == "enrolled", recorded
        assert set(outcomes) <= {"unchanged", "enrolled"}, recorded
        assert re.search(r"login_failed x1 from 127\.0\.0\.1 in the minute \d\d:\d\d for jbloggs$", recorded, re.M)
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl+C in the first terminal
        deadline = time.monotonic() + 15
        while server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        _, log = server.communicate(timeout=10)
    assert server.returncode == 0, log
    assert "outcome=enrolled user='jbloggs'" in log and "7578743843" not in log
