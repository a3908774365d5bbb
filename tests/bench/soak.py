"""Soak: steady reprovision load for a long time; does the gateway's memory or descriptor count grow?

wrk keeps ``connections`` clients busy (closed loop: a steady load, as fast as the gateway
answers) for the whole period. The gateway's VmRSS and open descriptors are sampled while the
load runs: the first sample a few seconds in (after a warm-up run, so start-up allocations and
the pools are in place), then every ``every`` seconds, the last just before the load ends. Both
ends are therefore measured with the same wrk connections open.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from pathlib import Path

from tests.bench.processes import proc_stats
from tests.bench.wrk import run_wrk


def soak(
    pid: int, url: str, pairs_file: Path, seconds: float, connections: int = 16, every: float = 30, warmup: float = 30
) -> dict[str, object]:
    warm = run_wrk(url, "reprovision", pairs_file, connections, warmup, "warmup") if warmup else None
    result: dict[str, object] = {}
    load = threading.Thread(
        target=lambda: result.update(run_wrk(url, "reprovision", pairs_file, connections, seconds, "soak")),
        daemon=True,
    )
    began = time.monotonic()
    load.start()
    samples = []
    offsets = [2.0, *(t for t in range(int(every), int(seconds) - 2, int(every))), max(2.0, seconds - 2)]
    for offset in sorted(set(offsets)):
        time.sleep(max(0.0, began + offset - time.monotonic()))
        samples.append({"t_s": round(time.monotonic() - began, 1), **asdict(proc_stats(pid))})
    load.join()
    idle = {"t_s": round(time.monotonic() - began, 1), **asdict(proc_stats(pid))}
    first, last = samples[0], samples[-1]
    return {
        "seconds": seconds,
        "connections": connections,
        "warmup_seconds": warmup,
        "warmup": warm,
        "load": result,
        "samples": samples,
        "after_load": idle,
        "rss_start_kib": first["rss_kib"],
        "rss_end_kib": last["rss_kib"],
        "rss_growth_pct": round(100 * (last["rss_kib"] - first["rss_kib"]) / first["rss_kib"], 2),
        "fds_start": first["open_fds"],
        "fds_end": last["open_fds"],
        "fd_growth": last["open_fds"] - first["open_fds"],
    }
