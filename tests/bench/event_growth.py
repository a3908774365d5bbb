"""How much do failing calls with random usernames and deviceIds grow the store and the process?
(issue 14, finding 4: one events row per failed call was 250-778 B, ~3.5 GB a day at the
floor-limited rate.)

Drives N calls (default 100,000) through the in-process app on the demo directory, failure floor
0, default attempt limits, from a few source addresses: random usernames (unknown users), some
with an empty password, some wrong passwords for a real user on random new phones. The store's
clock advances as if the calls came at ``--rate`` per second (default 52, the rate at which the
failure floor fills 8 worker threads), so the per-minute counting sees the minutes a real flood
would span. Prints the store's growth in bytes and rows and the process's RSS growth, as JSON.

    .venv/bin/python -m tests.bench.event_growth [--calls 100000] [--rate 52] [--sources 3]
                                                 [--per-source ''] [--postgres] [--full-rows]

``--full-rows`` writes one events row per call, as before the counting, for comparison.
Not a test: the figures depend on the machine; docs/performance.md records a run, and
tests/unit/test_event_growth_bound.py asserts the bound at 5,000 calls.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import string
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from falcon.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import AttemptsSettings, SecuritySettings, StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import upgrade
from gateway.store.sql import SqlDeviceStore, SqlTransaction
from gateway.store.tables import event_counts, events

WARM_UP = 1000


@dataclass(frozen=True)
class Growth:
    calls: int
    simulated_minutes: float
    sources: int
    store_bytes: int
    store_bytes_per_call: float
    event_rows: int
    counted_rows: int
    counted_calls: int
    rss_bytes: int
    rss_bytes_per_call: float


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def rss() -> int:
    """This process's resident set size, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def store_bytes(engine: Engine, path: Path | None) -> int:
    """SQLite: the file after a WAL checkpoint. PostgreSQL: the schema's tables with indexes and TOAST."""
    if path is not None:
        raw = engine.raw_connection()  # outside a transaction: a checkpoint cannot run inside one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        wal = path.with_name(path.name + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    query = text(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
    )
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())


@contextlib.contextmanager
def store_url(postgres: bool) -> Iterator[tuple[str, Path | None]]:
    if postgres:
        from tests.support.postgres import private_schema

        with private_schema() as url:
            yield url, None
        return
    with tempfile.TemporaryDirectory(prefix="event-growth-") as folder:
        path = Path(folder) / "devices.sqlite3"
        yield f"sqlite:///{path}", path


def measure(
    calls: int,
    *,
    rate: float = 52.0,
    sources: int = 3,
    per_source: str = AttemptsSettings().per_source,
    postgres: bool = False,
    seed: int = 14,
) -> Growth:
    """Drive ``calls`` failing calls (after a warm-up of their own kind) and measure the growth."""
    rng = random.Random(seed)  # noqa: S311 - random test names, no secret
    with store_url(postgres) as (url, path):
        engine = create_store_engine(url)
        upgrade(engine)
        clock = Clock()
        store = SqlDeviceStore(engine, now=clock)
        factory = demo_factory()
        settings = demo_settings(
            factory,
            store=StoreSettings(url=SecretStr(url)),
            security=SecuritySettings(failure_floor_ms=0),
            attempts=AttemptsSettings(per_source=per_source),
        )
        client = TestClient(create_app(settings, directory=build_directory(settings, factory), store=store, now=clock))
        addresses = [f"203.0.113.{n + 1}" for n in range(sources)]
        step = timedelta(seconds=1 / rate)

        def drive(count: int) -> None:
            for number in range(count):
                clock.now += step
                params = {"username": _text(rng, 12), "password": _text(rng, 12), "deviceId": _text(rng, 24)}
                if number % 10 == 1:
                    params["password"] = ""
                elif number % 20 == 2:
                    params["username"] = "jbloggs"  # a real user, wrong password, a new phone
                query = {**params, "reprovision": "true"}
                answer = client.simulate_get("/provisioning", params=query, remote_addr=addresses[number % sources])
                assert answer.status_code == 200 and answer.json["update"] is False

        drive(WARM_UP)
        store.flush_counts()
        store.wait_for_prune()
        bytes_before, rss_before, rows_before = store_bytes(engine, path), rss(), _rows(engine)
        drive(calls)
        store.close()  # write the counts still pending (a serving gateway writes them within a second)
        store.wait_for_prune()
        grown = store_bytes(engine, path) - bytes_before
        rss_grown = rss() - rss_before
        event_rows, counted_rows, counted_calls = (a - b for a, b in zip(_rows(engine), rows_before, strict=True))
        engine.dispose()
    return Growth(
        calls=calls,
        simulated_minutes=round(calls / rate / 60, 1),
        sources=sources,
        store_bytes=grown,
        store_bytes_per_call=round(grown / calls, 2),
        event_rows=event_rows,
        counted_rows=counted_rows,
        counted_calls=counted_calls,
        rss_bytes=rss_grown,
        rss_bytes_per_call=round(rss_grown / calls, 2),
    )


def _rows(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return (
            int(c.execute(select(func.count()).select_from(events)).scalar_one()),
            int(c.execute(select(func.count()).select_from(event_counts)).scalar_one()),
            int(c.execute(select(func.coalesce(func.sum(event_counts.c.count), 0))).scalar_one()),
        )


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=52.0, help="simulated calls per second")
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument(
        "--per-source", default=AttemptsSettings().per_source, help="attempts.per_source ('' = off, as behind a cloud)"
    )
    parser.add_argument("--postgres", action="store_true", help="the machine's PostgreSQL (a private schema)")
    parser.add_argument("--full-rows", action="store_true", help="one events row per call, as before")
    args = parser.parse_args(argv)
    if args.full_rows:
        original: Any = SqlTransaction.add_event
        SqlTransaction.count_event = original  # type: ignore[method-assign]
    growth = measure(
        args.calls, rate=args.rate, sources=args.sources, per_source=args.per_source, postgres=args.postgres
    )
    options = {"full_rows": args.full_rows, "postgres": args.postgres, "per_source": args.per_source}
    print(json.dumps({**asdict(growth), **options}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
