"""The Samba AD DC for the benchmark: reuse a running one, or start our own and stop it after.

Samba listens on the fixed ports 389/636, so there is one per machine, and another session's
tests may be using it. A Samba started by ``tests/servers/samba.sh`` whose ``samba.env`` names a
live samba process is reused, read-only (searches and binds of users who can sign in), and left
running. Otherwise, when we are root and the ports are free, we start one under our own DIRLAB
and stop it when done.
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMBA_SH = ROOT / "tests/servers/samba.sh"
DIRLAB = Path(os.environ.get("DIRLAB", "/tmp/gateway-dirlab"))
BENCH_DIRLAB = Path(os.environ.get("BENCH_DIRLAB", "/tmp/gateway-bench-dirlab"))


@dataclass
class SambaHandle:
    env: dict[str, str]
    owned: bool  # started by us: stop it when done
    dirlab: Path

    @property
    def pid(self) -> int:
        return int(self.env.get("SAMBA_PID", "0"))

    def release(self) -> None:
        if self.owned:
            subprocess.run(
                ["bash", str(SAMBA_SH), "stop"],
                env={**os.environ, "DIRLAB": str(self.dirlab)},
                check=False,
                capture_output=True,
            )


def _read_env(path: Path) -> dict[str, str]:
    return dict(line.strip().split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _is_samba(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z" and os.readlink(f"/proc/{pid}/exe").endswith("/samba")
    except OSError:
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def running_samba() -> SambaHandle | None:
    candidates = [DIRLAB / "samba/samba.env", BENCH_DIRLAB / "samba/samba.env"]
    candidates += [Path(p) for p in sorted(glob.glob("/tmp/*/samba/samba.env"))]
    for path in dict.fromkeys(candidates):
        if path.is_file():
            env = _read_env(path)
            if _is_samba(int(env.get("SAMBA_PID", "0"))) and Path(env.get("AD_CA_CERT", "")).is_file():
                return SambaHandle(env, owned=False, dirlab=path.parent.parent)
    return None


def acquire_samba() -> tuple[SambaHandle | None, str]:
    """A Samba to measure, and a line saying which (or why there is none)."""
    found = running_samba()
    if found:
        return found, f"reusing the running Samba AD DC (pid {found.pid}, {found.dirlab}); left running"
    if os.geteuid() != 0:
        return None, "Samba skipped: the AD DC needs root"
    if _port_in_use(389) or _port_in_use(636):
        return None, "Samba skipped: ports 389/636 are taken by something that is not a samba.sh Samba"
    done = subprocess.run(
        ["bash", str(SAMBA_SH), "start"],
        env={**os.environ, "DIRLAB": str(BENCH_DIRLAB)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    env_file = BENCH_DIRLAB / "samba/samba.env"
    if done.returncode != 0 or not env_file.is_file():
        return None, f"Samba skipped: samba.sh failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return SambaHandle(_read_env(env_file), owned=True, dirlab=BENCH_DIRLAB), "started a Samba AD DC for this run"
