"""Gateway throughput and latency next to raw LDAP, the naive loop and the HTTP ceiling, in one run.

    python -m tests.bench.run                  # 100 and 100,000 users, 10 s per point, Samba if possible
    python -m tests.bench.run --quick --no-samba   # smoke: 100 users, 1 s per point (< 90 s)
    python -m tests.bench.run --soak 600       # 10 minutes of reprovision load: RSS and descriptors
    python -m tests.bench.run --profile 20     # py-spy profile of the gateway under load

Not a test: numbers depend on the machine (and on whatever else runs on it). Starts its own
slapd per user count (tests/bench/slapd_bench.py), the gateway and a trivial Falcon app under
waitress, drives them with wrk, and stops everything it started. Writes
tests/bench/results/<timestamp>.json and .png; a full run also copies the plot to
docs/performance-throughput.png. docs/performance.md explains the scenarios and records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from tests.bench import pyspy, report, scenarios
from tests.bench.gateway_process import enrol_devices, start_gateway
from tests.bench.samba import acquire_samba
from tests.bench.slapd_bench import start_slapd
from tests.bench.soak import soak
from tests.bench.targets import openldap_target, samba_target
from tests.bench.wrk import write_lines

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests/bench/results"
DOCS_PLOT = ROOT / "docs/performance-throughput.png"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 100 users, 1 s per point, no Samba")
    p.add_argument("--users", type=_ints, help="user counts, one slapd each (default 100,100000)")
    p.add_argument("--duration", type=float, help="seconds per point (default 10; --quick 1)")
    p.add_argument("--concurrency", type=_ints, default=(1, 4, 16, 64), help="wrk connections (default 1,4,16,64)")
    p.add_argument("--loop-threads", type=_ints, default=(1, 2, 4, 8), help="raw loop threads (default 1,2,4,8)")
    p.add_argument("--threads", type=int, default=8, help="waitress threads, gateway and ceiling (default 8)")
    p.add_argument("--stores", default="sqlite", help="gateway stores: sqlite, postgresql or both (comma)")
    p.add_argument("--samba", action=argparse.BooleanOptionalAction, help="also measure Samba AD (default: on)")
    p.add_argument("--soak", type=float, metavar="SECONDS", help="soak mode instead: reprovision load, RSS/fds")
    p.add_argument("--profile", type=float, metavar="SECONDS", help="profile mode instead: py-spy, enrol+reprov")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default tests/bench/results)")
    args = p.parse_args(argv)
    args.users = args.users or ((100,) if args.quick else (100, 100000))
    args.duration = args.duration or (1.0 if args.quick else 10.0)
    args.samba = (not args.quick) if args.samba is None else args.samba
    args.stores = tuple(s.strip() for s in args.stores.split(",") if s.strip())
    return args


def _git(*command: str) -> str:
    done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def meta(args: argparse.Namespace) -> dict[str, Any]:
    def version(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return next(iter((done.stdout or done.stderr).strip().splitlines()), "")

    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {
            k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_at_start": list(os.getloadavg()),
        },
        "versions": {
            **{name: metadata.version(name) for name in ("falcon", "waitress", "ldap3", "SQLAlchemy")},
            "wrk": version(["wrk", "--version"]),
            "slapd": version(["/usr/sbin/slapd", "-VV"]),
        },
        # The gateway is measured as the work tree has it, uncommitted changes included.
        "git": {
            "commit": _git("rev-parse", "--short", "HEAD"),
            "gateway_changes": _git("status", "--porcelain", "gateway").splitlines(),
        },
    }


def matrix(args: argparse.Namespace, plan: scenarios.Plan) -> dict[str, Any]:
    points: list[dict[str, Any]] = []
    processes: dict[str, Any] = {}
    notes: list[str] = []
    for index, users in enumerate(args.users):
        print(f"slapd with {users} users ...", flush=True)
        slapd = start_slapd(users)
        notes.append(f"slapd {users} users: generated and loaded with slapadd in {slapd.load_seconds:.1f} s")
        try:
            target = openldap_target(slapd)
            for store in args.stores:
                found, process = scenarios.gateway_series(target, slapd.pid, plan, min(users, 1000), store)
                points += found
                processes[f"{target.name}, {store}"] = process
            points += scenarios.loop_series(target, slapd.pid, plan)
            if index == 0:
                points += scenarios.ceiling_series(plan)
        finally:
            slapd.stop()
    if args.samba:
        points += _samba(args, plan, notes)
    return {"points": points, "gateway_processes": processes, "notes": notes}


def _samba(args: argparse.Namespace, plan: scenarios.Plan, notes: list[str]) -> list[dict[str, Any]]:
    handle, message = acquire_samba()
    print(message, flush=True)
    notes.append(message)
    if handle is None:
        return []
    try:
        target = samba_target(handle.env)
        low = tuple(c for c in plan.concurrency if c <= 16)  # one single-process DC: past 16 only queueing
        points, _ = scenarios.gateway_series(target, handle.pid, plan, 50, args.stores[0], low)
        return points + scenarios.loop_series(target, handle.pid, plan)
    finally:
        handle.release()


@contextmanager
def enrolled_gateway(args: argparse.Namespace, plan: scenarios.Plan, name: str) -> Iterator[tuple[Any, Any, Path]]:
    """slapd with the most users asked for, the gateway on it, the reprovision set enrolled."""
    slapd = start_slapd(max(args.users))
    try:
        target = openldap_target(slapd)
        gateway = start_gateway(target, plan.work / name, plan.server_threads, args.stores[0])
        try:
            pairs = scenarios.reprovision_pairs(target, min(slapd.users, 1000))
            if refused := enrol_devices(gateway.url, pairs):
                raise RuntimeError(f"{refused} of {len(pairs)} enrolments refused; see {gateway.listener.log}")
            yield target, gateway, write_lines(plan.work / f"{name}-pairs.tsv", pairs)
        finally:
            gateway.stop()
    finally:
        slapd.stop()


def soak_mode(args: argparse.Namespace, plan: scenarios.Plan) -> dict[str, Any]:
    with enrolled_gateway(args, plan, "soak") as (target, gateway, pairs_file):
        warmup = min(30.0, args.soak / 10)
        print(f"soak: {args.soak:.0f} s of reprovision load at 16 clients after {warmup:.0f} s warm-up", flush=True)
        result = soak(gateway.pid, gateway.url, pairs_file, args.soak, warmup=warmup, every=min(30, args.soak / 4))
    result["directory"] = target.name
    return {"soak": result, "targets": report.soak_targets(result)}


def profile_mode(args: argparse.Namespace, plan: scenarios.Plan) -> dict[str, Any]:
    summaries: dict[str, Any] = {}
    with enrolled_gateway(args, plan, "profile") as (target, gateway, pairs_file):
        users_file = write_lines(plan.work / "users.tsv", target.users)
        for mode, lines in (("enrol", users_file), ("reprovision", pairs_file)):
            prefix = args.out / f"{args.stamp}-profile-{mode}"
            summaries[mode] = pyspy.profile_under_load(gateway.pid, gateway.url, mode, lines, args.profile, prefix)
            gil = summaries[mode]["gil"]
            title = f"gateway {mode}, 16 clients, {target.name}"
            print(pyspy.render(title, gil, f"GIL-holding thread (GIL busy {gil['gil_busy_pct']:.0f} % of the time)"))
            print(pyspy.render(title, summaries[mode]["wall"], "all threads inside a request (wall clock)"), flush=True)
    return {"profile": summaries}


def print_matrix(results: dict[str, Any], args: argparse.Namespace) -> None:
    points = results["points"]
    print("\n" + report.table(points))
    print("\nratios (each side at its best concurrency):")
    print(report.verdict_lines(results["ratios"]))
    print("\nlatency targets:")
    print(report.verdict_lines(results["targets"]))
    for note in results["notes"]:
        print(f"note: {note}")
    failed = [p for p in points if p.get("bad", p.get("errors", 0))]
    if failed:
        print(f"WARNING: {len(failed)} points had failed answers (column 'failed'; samples in the JSON)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.stamp = time.strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    plan = scenarios.Plan(args.duration, args.concurrency, args.loop_threads, args.threads, args.stores, work)
    results: dict[str, Any] = {"meta": meta(args)}
    succeeded = False
    try:
        if args.soak:
            results.update(soak_mode(args, plan))
            print(report.verdict_lines(results["targets"]))
        elif args.profile:
            results.update(profile_mode(args, plan))
        else:
            results.update(matrix(args, plan))
            small = f"openldap {min(args.users)} users"
            large = f"openldap {max(args.users)} users" if len(args.users) > 1 else None
            results["ratios"] = report.ratios(results["points"], list(args.stores))
            results["targets"] = report.latency_targets(results["points"], list(args.stores), small, large)
            print_matrix(results, args)
        succeeded = True
    finally:
        if succeeded:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"failed: configs and logs (gateway.log, ceiling.log) kept in {work}")
    results["meta"]["loadavg_at_end"] = list(os.getloadavg())
    out = args.out / f"{args.stamp}{'-soak' if args.soak else '-profile' if args.profile else ''}.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {out}")
    if "points" in results:
        from tests.bench.plot import draw

        title = (
            f"SessionTalk gateway benchmark {results['meta']['started']} ({results['meta']['git']['commit']}), "
            f"{args.duration:g} s per point, waitress {args.threads} threads"
        )
        out.with_suffix(".md").write_text(report.markdown(results))
        png = draw(results["points"], title, out.with_suffix(".png"))
        print(f"plot: {png}")
        if not args.quick and args.out == RESULTS:  # a real run into the usual place: the docs' plot
            shutil.copy(png, DOCS_PLOT)
            print(f"plot copied to {DOCS_PLOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
