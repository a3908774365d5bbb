"""Where the gateway's time goes: py-spy samples of the running gateway under load, summed up.

Two recordings per scenario:

- ``--gil``: only the thread holding the GIL. Under load that is the gateway's one busy core,
  so these shares are shares of the CPU that limits its throughput; the number of samples
  against the sampling rate says how busy the GIL was. C code that releases the GIL (socket and
  TLS reads, SQLite statements and its busy-wait) is not in them.
- ``--idle``: every thread, idle or not (wall-clock), counted only while a worker is inside a
  request (a ``gateway/web/`` frame on its stack): where a request's *time* goes, waits included
  (the directory's answer, SQLite's write lock, the GIL).

Needs ``py-spy`` (``pip install py-spy``; in the ``bench`` extra) and root or ptrace rights.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.wrk import wrk_command

RATE = 200  # samples per second
IN_REQUEST = "(gateway/web/"  # a worker thread is answering a request while this is on its stack
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
#: Buckets, most specific first: a sample counts for the first bucket one of its frames
#: ("function (file)") contains a mark of. ``Engine.begin`` is only the BEGIN IMMEDIATE of
#: SQLite: waiting for the write lock that another request holds.
BUCKETS = (
    ("store: BEGIN, waiting for the write lock", ("Engine.begin (",)),
    ("store: SQLAlchemy + sqlite3/psycopg", ("(sqlalchemy/", "(sqlite3/", "(psycopg/", "(gateway/store/")),
    ("directory: ldap3 + pyasn1 + ssl", ("(ldap3/", "(pyasn1/", "(ssl.py", "(gateway/directory/")),
    ("logging (the request log line)", ("(logging/",)),
    ("mapping + fingerprint", ("(gateway/mapping/", "(gateway/provisioning/fingerprint.py")),
    ("gateway: service, decision, web", ("(gateway/",)),
    ("falcon", ("(falcon/",)),
    ("waitress (HTTP parsing, sockets, task queue)", ("(waitress/",)),
)


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # installed into the same venv
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = RATE, gil: bool = True) -> Path:
    """Sample ``pid`` for ``seconds`` into a collapsed-stack ("raw") file."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy not found: pip install py-spy")
    which = ["--gil"] if gil else ["--idle"]
    subprocess.run(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(rate),
            *which,
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def profile_under_load(pid: int, url: str, mode: str, lines: Path, seconds: float, prefix: Path) -> dict[str, Any]:
    """wrk at 16 clients while py-spy records ``pid`` twice: the GIL holder, then every thread."""
    found: dict[str, Any] = {}
    for name, gil in (("gil", True), ("wall", False)):
        raw = prefix.with_name(f"{prefix.name}-{name}.txt")
        load = subprocess.Popen(
            wrk_command(url, mode, lines, 16, seconds + 4, f"prof-{name}"), stdout=subprocess.DEVNULL
        )
        try:
            time.sleep(2)  # connections open, pools warm
            record(pid, seconds, raw, RATE, gil=gil)
        finally:
            load.wait()
        found[name] = {"raw": str(raw), **summarize(raw, in_request_only=not gil)}
    found["gil"]["gil_busy_pct"] = round(100 * found["gil"]["samples"] / (RATE * seconds), 1)
    return found


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for frame in stack.split(";"):
        found = FRAME.match(frame.strip())
        if found:
            frames.append((found["function"], found["file"]))
    return frames


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarize(raw: Path, in_request_only: bool = False, top: int = 15) -> dict[str, object]:
    buckets: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        names = [f"{function} ({file})" for function, file in frames]
        if in_request_only and not any(IN_REQUEST in name for name in names):
            continue  # an idle worker, or waitress's main loop (poll) that reads requests
        total += count
        if frames:
            function, file = frames[-1]
            self_time[f"{function} ({_short(file)})"] += count
        bucket = next((bucket for bucket, marks in BUCKETS if any(m in n for n in names for m in marks)), "other")
        buckets[bucket] += count

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "buckets_pct": {name: share(n) for name, n in buckets.most_common()},
        "top_self_pct": {name: share(n) for name, n in self_time.most_common(top)},
    }


def render(title: str, summary: dict[str, object], what: str) -> str:
    lines = [f"{title}: {summary['samples']} samples, {what}"]
    lines += ["  by part (a sample counts once, for the most specific part on its stack):"]
    lines += [f"    {pct:5.1f} %  {name}" for name, pct in summary["buckets_pct"].items()]  # type: ignore[attr-defined]
    lines += ["  top functions by own time:"]
    lines += [f"    {pct:5.1f} %  {name}" for name, pct in summary["top_self_pct"].items()]  # type: ignore[attr-defined]
    return "\n".join(lines)


if __name__ == "__main__":  # summarize a recorded file again: python -m tests.bench.pyspy FILE [--wall]
    print(render(sys.argv[1], summarize(Path(sys.argv[1]), in_request_only="--wall" in sys.argv), "from file"))
