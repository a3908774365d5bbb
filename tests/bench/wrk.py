"""The HTTP load generator: wrk (C, epoll, keep-alive) with ``provision.lua``.

Why wrk rather than a Python client: on this 2-core machine the load generator shares the CPU
with the server it measures. A Python client spends more CPU per request than the server it
drives and is itself GIL-bound (~2-3k requests/s from one process), below the ~8k req/s
Falcon+waitress ceiling; wrk costs a fraction of a core for the same load. The Lua script gives
every enrolment its own deviceId and checks every answer's body.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path

SCRIPT = Path(__file__).with_name("provision.lua")
WRK = "wrk"


def write_lines(path: Path, rows: Iterable[tuple[str, ...]]) -> Path:
    """The Lua script's input: one tab-separated (login, password[, deviceId]) row per line."""
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    return path


def wrk_command(url: str, mode: str, lines: Path, connections: int, duration: float, tag: str) -> list[str]:
    threads = min(connections, 2)  # one wrk thread per core is all wrk needs
    return [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
            "--timeout", "10s", "-s", str(SCRIPT), url, "--", mode, str(lines), tag]  # fmt: skip


def run_wrk(url: str, mode: str, lines: Path, connections: int, duration: float, tag: str) -> dict[str, float | str]:
    """Closed-loop load: ``connections`` keep-alive connections, each sending its next request
    as soon as the previous answer arrives, for ``duration`` seconds."""
    command = wrk_command(url, mode, lines, connections, duration, tag)
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=duration + 60)
    found = [line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    raw = json.loads(found[-1].removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": round(raw["ok"] / seconds, 1),  # only answers that were what the scenario expects
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "ok": raw["ok"],
        "bad": raw["bad"],
        "bad_sample": raw["bad_sample"],
        "socket_errors": raw["socket_errors"],
        "timeouts": raw["timeouts"],
        "seconds": round(seconds, 2),
    }
