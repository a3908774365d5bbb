"""Failure floods and failure timing against a real ``serve --demo`` process (issue 14, finding 3).

1. The seed's jbloggs call (enrol, then reprovision), made from 127.0.0.2 while 0, 64 and 200
   connections from 127.0.0.1 send failing calls back to back: its p50 / p99, directly and through
   the shipped nginx site (tests/support/nginx.py).
2. At normal load (one call at a time), the answer time of each failure kind: unknown user, wrong
   password, locked, not entitled, rate limited, wrong password on an enrolled phone (p50 / p99).

    .venv/bin/python -m tests.bench.failure_flood [--calls 30] [--samples 100] [--per-source 30/minute]
        [--floor-ms 150] [--attackers 0,64,200] [--no-nginx] [--out results.json]

Not a test: the numbers depend on the machine (docs/performance.md records a run).
tests/e2e/test_failure_flood.py asserts the 64-connection case with a generous bound.
"""

from __future__ import annotations

import argparse
import json
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

from gateway.demo import DEMO_DIRECTORY
from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway
from tests.support.flood import Flood, percentile, timed_calls
from tests.support.nginx import NginxLauncher

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gateway(folder: Path, floor_ms: int, per_source: str, per_account: str | None = None) -> Iterator[RunningGateway]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO_DIRECTORY, folder / "directory.ldif")
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{folder / 'devices.sqlite3'}",
        "GATEWAY_SECURITY__FAILURE_FLOOR_MS": str(floor_ms),
        "GATEWAY_ATTEMPTS__PER_SOURCE": per_source,
        "GATEWAY_SERVER__TRUSTED_PROXY": "127.0.0.1",
    }
    if per_account is not None:
        env["GATEWAY_ATTEMPTS__PER_ACCOUNT"] = per_account
    running = start_gateway(["--demo-directory", str(folder / "directory.ldif")], folder / "gateway.log", env=env)
    try:
        yield running
    finally:
        stop_gateway(running)


def flood_runs(args: argparse.Namespace, root: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    routes = ["direct"] + ([] if args.no_nginx else ["nginx"])
    for route in routes:
        for attackers in args.attackers:
            folder = root / f"{route}-{attackers}"
            with gateway(folder, args.floor_ms, args.per_source) as running, NginxLauncher(folder, 1024) as launch:
                url, cafile = running.base_url, None
                if route == "nginx":
                    proxy = launch([int(running.base_url.rsplit(":", 1)[1])])
                    url, cafile = proxy.url.replace("localhost", "127.0.0.1"), str(proxy.ca)
                context = ssl.create_default_context(cafile=cafile) if cafile else None
                started = time.monotonic()
                with Flood(url, attackers, cafile=cafile) as flood:
                    times = timed_calls(url, args.calls, pause=0.25, context=context)
                    elapsed = time.monotonic() - started
            results[f"{route}, {attackers} attackers"] = {
                "p50": round(percentile(times, 0.5), 1),
                "p99": round(percentile(times, 0.99), 1),
                "max": round(max(times), 1),
                "attack calls/s": round(flood.calls / elapsed, 1),
            }
            print(f"  {route:<7} {attackers:>4} attackers: {results[f'{route}, {attackers} attackers']}", flush=True)
    return results


def _call(base_url: str, username: str, password: str, device: str, reprovision: bool) -> tuple[float, bytes]:
    query = urlencode(
        {"username": username, "password": password, "reprovision": str(reprovision).lower(), "deviceId": device}
    )
    started = time.perf_counter()
    with urlopen(f"{base_url}/provisioning?{query}", timeout=30) as answer:  # a loopback URL we started
        body = answer.read()
    return (time.perf_counter() - started) * 1000, body


def kind_runs(args: argparse.Namespace, root: Path) -> dict[str, dict[str, float]]:
    """Each failure kind, one call at a time (limits off except for the rate-limited kind)."""
    times: dict[str, list[float]] = {}
    with gateway(root / "kinds", args.floor_ms, per_source="", per_account="") as running:
        url = running.base_url
        enrolled = "bench-" + uuid.uuid4().hex[:12]
        assert b'"1001"' in _call(url, "jbloggs", "7578743843", enrolled, False)[1]
        kinds = {
            "unknown user": lambda: _call(url, "nobody-" + uuid.uuid4().hex[:8], "Guess-1", uuid.uuid4().hex, False),
            "wrong password": lambda: _call(url, "asmith", "Wrong-1", uuid.uuid4().hex, False),
            "locked": lambda: _call(url, "oleaver", "Leaver-2026", uuid.uuid4().hex, False),
            "not entitled": lambda: _call(url, "tguest", "Visitor-2026", uuid.uuid4().hex, False),
            "wrong password, enrolled phone": lambda: _call(url, "jbloggs", "Wrong-1", enrolled, True),
        }
        for _ in range(args.samples):
            for kind, call in kinds.items():  # interleaved: drift in the machine's load hits every kind alike
                took, body = call()
                assert b'"sipaccounts": []' in body, (kind, body)
                times.setdefault(kind, []).append(took)
    with gateway(root / "limited", args.floor_ms, per_source="", per_account="3/15 minutes") as running:
        for _ in range(3):
            _call(running.base_url, "asmith", "Wrong-1", uuid.uuid4().hex, False)  # uses up the account's budget
        for _ in range(args.samples):
            took, body = _call(running.base_url, "asmith", "Wrong-1", uuid.uuid4().hex, False)
            times.setdefault("rate limited", []).append(took)
    return {
        kind: {"p50": round(percentile(t, 0.5), 1), "p99": round(percentile(t, 0.99), 1), "max": round(max(t), 1)}
        for kind, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="legitimate calls per flood run")
    parser.add_argument("--samples", type=int, default=100, help="calls per failure kind")
    parser.add_argument("--floor-ms", type=int, default=150)
    parser.add_argument("--per-source", default="30/minute", help='attempts.per_source ("" = off)')
    parser.add_argument(
        "--attackers",
        type=lambda s: [int(n) for n in s.split(",") if n],
        default=[0, 64, 200],
        help='e.g. 0,64,200 ("" skips the floods)',
    )
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--skip-kinds", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/bench/results/failure_flood.json")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="failure-flood-"))
    print(f"legitimate call (ms) under a failure flood, per_source={args.per_source!r}, floor {args.floor_ms} ms")
    results: dict[str, object] = {"settings": {"per_source": args.per_source, "floor_ms": args.floor_ms}}
    results["flood"] = flood_runs(args, root)
    if not args.skip_kinds:
        kinds = kind_runs(args, root)
        results["kinds"] = kinds
        print(f"\nfailure kinds at normal load (ms, {args.samples} samples each)")
        for kind, s in kinds.items():
            print(f"  {kind:<32} p50 {s['p50']:7.1f}  p99 {s['p99']:7.1f}  max {s['max']:7.1f}")
        p50s, p99s = [s["p50"] for s in kinds.values()], [s["p99"] for s in kinds.values()]
        print(f"  spread: p50 {max(p50s) - min(p50s):.1f} ms, p99 {max(p99s) - min(p99s):.1f} ms (promise: < 5)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten to {args.out}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
