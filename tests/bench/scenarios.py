"""One measured series each: the gateway (enrol, reprovision), the raw ldap3 loops, the HTTP ceiling.

Every point records the throughput of *correct* answers, p50/p99/max latency, failures, and the
CPU time per request of the Python process doing the work and of the directory server, read
from /proc before and after (so a reader can see which side is the bottleneck).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.bench import ldap_loops
from tests.bench.gateway_process import enrol_devices, start_gateway
from tests.bench.processes import cpu_seconds, proc_stats, start_listener
from tests.bench.targets import DirectoryTarget
from tests.bench.wrk import run_wrk, write_lines

Point = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    duration: float
    concurrency: tuple[int, ...]  # wrk connections
    loop_threads: tuple[int, ...]  # raw loop threads
    server_threads: int  # waitress threads, gateway and ceiling alike
    stores: tuple[str, ...]
    work: Path  # scratch folder for configs, stores, logs

    @property
    def warmup(self) -> float:
        """Seconds of unrecorded load before each gateway series (pools, caches, page cache)."""
        return max(1.0, min(3.0, self.duration / 4))


def _measure(
    scenario: str,
    directory: str,
    concurrency: int,
    python_pid: int,
    directory_pid: int | None,
    run: Callable[[], dict[str, Any]],
    **labels: Any,
) -> Point:
    before = cpu_seconds(python_pid), cpu_seconds(directory_pid) if directory_pid else 0.0
    load_before = os.getloadavg()[0]
    stats = run()
    done = max(1, int(stats.get("ok", stats["requests"])))
    point: Point = {"scenario": scenario, "directory": directory, "concurrency": concurrency, **labels, **stats}
    point["python_cpu_ms"] = round((cpu_seconds(python_pid) - before[0]) * 1000 / done, 3)
    if directory_pid:
        point["directory_cpu_ms"] = round((cpu_seconds(directory_pid) - before[1]) * 1000 / done, 3)
    point["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    _progress(point)
    return point


def _progress(p: Point) -> None:
    failed = p.get("bad", p.get("errors", 0))
    print(
        f"  {p['scenario']:<20} {p['directory']:<22} c={p['concurrency']:<3} {p['rps']:8.1f}/s  "
        f"p50 {p['p50_ms']:7.2f}  p99 {p['p99_ms']:7.2f} ms  failed {failed}",
        flush=True,
    )


def reprovision_pairs(target: DirectoryTarget, count: int) -> list[tuple[str, str, str]]:
    """``count`` (login, password, deviceId) to enrol once and then reprovision over and over."""
    users = target.users
    return [(users[i % len(users)][0], users[i % len(users)][1], f"rp-{i}") for i in range(count)]


def gateway_series(
    target: DirectoryTarget,
    directory_pid: int | None,
    plan: Plan,
    pairs: int,
    store: str,
    concurrency: tuple[int, ...] | None = None,
) -> tuple[list[Point], dict[str, Any]]:
    """Start the gateway on ``target``, enrol the reprovision set, then load it at each concurrency."""
    folder = plan.work / f"gateway-{target.name.replace(' ', '-')}-{store}"
    users_file = write_lines(folder.parent / f"users-{target.name.replace(' ', '-')}.tsv", target.users)
    pairs_list = reprovision_pairs(target, pairs)
    gateway = start_gateway(target, folder, plan.server_threads, store)
    points: list[Point] = []
    try:
        started = proc_stats(gateway.pid)
        refused = enrol_devices(gateway.url, pairs_list)
        if refused:
            raise RuntimeError(f"{refused} of {len(pairs_list)} enrolments refused; see {gateway.listener.log}")
        pairs_file = write_lines(folder / "pairs.tsv", pairs_list)
        labels = {"store": store, "server_threads": plan.server_threads}
        for mode, scenario, lines in (
            ("enrol", "gateway enrol", users_file),
            ("reprovision", "gateway reprovision", pairs_file),
        ):
            run_wrk(gateway.url, mode, lines, 4, plan.warmup, f"warmup-{store}")  # not recorded
            for c in concurrency or plan.concurrency:
                tag = f"{store}-{c}-{int(time.time() * 1000)}"
                run = lambda: run_wrk(gateway.url, mode, lines, c, plan.duration, tag)  # noqa: B023, E731
                points.append(_measure(scenario, target.name, c, gateway.pid, directory_pid, run, **labels))
        process = {"pid": gateway.pid, "at_start": asdict(started), "at_end": asdict(proc_stats(gateway.pid))}
    finally:
        gateway.stop()
    return points, process


def loop_series(
    target: DirectoryTarget, directory_pid: int | None, plan: Plan, threads: tuple[int, ...] | None = None
) -> list[Point]:
    """The raw ldap3 loops in this process's threads, at each thread count."""
    users = list(target.users)
    makers = {
        "ldap3 pooled": lambda: ldap_loops.pooled_worker(target, target.endpoint),
        "ldap3 naive": lambda: ldap_loops.naive_worker(target, target.endpoint),
        "ldap3 naive tuned": lambda: ldap_loops.naive_worker(target, target.endpoint, tuned=True),
    }
    points = []
    for scenario, make in makers.items():
        for n in threads or plan.loop_threads:
            if "naive" in scenario:
                ldap_loops.wait_for_time_wait()
            run = lambda: ldap_loops.run_loop(make, users, n, plan.duration)  # noqa: B023, E731
            points.append(_measure(scenario, target.name, n, os.getpid(), directory_pid, run))
    return points


def ceiling_series(plan: Plan) -> list[Point]:
    """The trivial Falcon+waitress endpoint under the same wrk load."""
    users = write_lines(plan.work / "ceiling-users.tsv", [("someone", "secret")])
    command = [sys.executable, "-m", "tests.bench.ceiling_app", "--threads", str(plan.server_threads)]
    server = start_listener(command, plan.work / "ceiling.log")
    try:
        url = server.base_url + "/provisioning"
        return [
            _measure(
                "http ceiling",
                "-",
                c,
                server.pid,
                None,
                lambda: run_wrk(url, "ceiling", users, c, plan.duration, "c"),  # noqa: B023
                server_threads=plan.server_threads,
            )
            for c in plan.concurrency
        ]
    finally:
        server.stop()
