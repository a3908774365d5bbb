"""Log flooding: how many bytes a second the gateway's log grows by while clients send 404s with
long paths as fast as they can (issue 14, finding 7). Starts ``python -m gateway serve`` with the
demo directory, floods it over loopback for a bounded time, and prints calls/s and log bytes/s.

    python -m tests.bench.log_flood --seconds 10 --connections 8 --path-bytes 7000 [--format json]
    python -m tests.bench.log_flood --target '/provisioning?username=nobody&password=x&reprovision=false&deviceId=d'
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import DEMO_DIRECTORY
from tests.e2e.conftest import start_gateway, stop_gateway


def flood(host: str, port: int, path: str, until: float, counts: list[int], index: int) -> None:
    """Keep-alive GETs of ``path`` until ``until``; the number of answers in ``counts[index]``."""
    connection = http.client.HTTPConnection(host, port, timeout=10)
    while time.monotonic() < until:
        try:
            connection.request("GET", path)
            connection.getresponse().read()
            counts[index] += 1
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--path-bytes", type=int, default=7000)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--target", default="", help="send this path and query instead (e.g. a wrong password)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="log-flood-"))
    try:
        ldif = folder / "directory.ldif"
        shutil.copyfile(DEMO_DIRECTORY, ldif)
        env = {"GATEWAY_STORE__URL": f"sqlite:///{folder / 'devices.sqlite3'}", "GATEWAY_LOGGING__FORMAT": args.format}
        gateway = start_gateway(["--demo-directory", str(ldif)], folder / "gateway.log", env=env)
        try:
            host, port = gateway.base_url.removeprefix("http://").rsplit(":", 1)
            path = args.target or "/" + "B" * (args.path_bytes - 1)
            time.sleep(0.5)
            before = gateway.log_path.stat().st_size
            started = time.monotonic()
            counts = [0] * args.connections
            threads = [
                threading.Thread(target=flood, args=(host, int(port), path, started + args.seconds, counts, i))
                for i in range(args.connections)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            grown = gateway.log_path.stat().st_size - before
        finally:
            stop_gateway(gateway)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    calls = sum(counts)
    print(
        f"{args.format}: {calls} calls of {len(path)} B paths in {elapsed:.1f} s "
        f"= {calls / elapsed:.0f} calls/s; "
        f"log grew {grown} B = {grown / elapsed / 1000:.1f} KB/s ({grown / max(calls, 1):.1f} B per call)"
    )


if __name__ == "__main__":
    main()
