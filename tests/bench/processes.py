"""Servers the benchmark runs as child processes, and what /proc says about a process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

LISTENING = re.compile(r"listening on (http://[^/\s]+)/")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Listener:
    """A server process that printed ``... listening on http://HOST:PORT/...``."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # waitress closes its sockets on KeyboardInterrupt
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_listener(command: list[str], log: Path, timeout: float = 60) -> Listener:
    """Start ``command`` with its output in ``log``; wait for its "listening on" line."""
    out = log.open("wb")
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return Listener(process, found.group(1), log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise RuntimeError(f"{' '.join(command[:4])}... did not start listening:\n{tail}")


@dataclass(frozen=True)
class ProcStats:
    rss_kib: int
    open_fds: int
    threads: int
    cpu_seconds: float


def proc_stats(pid: int) -> ProcStats:
    """Resident memory (VmRSS), open descriptors, threads and CPU time used so far."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    # /proc/PID/stat: fields 14 and 15 (utime, stime) after the ")" that ends the command name.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return ProcStats(
        rss_kib=int(status["VmRSS"].split()[0]),
        open_fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(status["Threads"]),
        cpu_seconds=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
    )


def cpu_seconds(pid: int) -> float:
    try:
        return proc_stats(pid).cpu_seconds
    except (OSError, KeyError):
        return 0.0
