"""The audit trail under a flood of failing calls (issue 14, finding 4), on SQLite and the real PostgreSQL.

Failed calls that change no device and concern no known device are counted per minute, source,
outcome and directory user (``event_counts``), not written one row each: random usernames and
deviceIds cannot grow the store faster than that. Events of enrolled devices keep their rows,
and the hourly prune runs on its own thread in its own transactions, never in a request's write.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, event, func, select

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.models import Event
from gateway.settings import AttemptsSettings, SecuritySettings, StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import upgrade
from gateway.store.sql import OTHER, SqlDeviceStore
from gateway.store.tables import event_counts, events
from tests.support.postgres import private_schema

JBLOGGS = {"username": "jbloggs", "password": "7578743843"}
SOURCES = ("203.0.113.9", "203.0.113.10", "198.51.100.7")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
        _migrate(url)
        yield url
        return
    with private_schema() as url:
        _migrate(url)
        yield url


def _migrate(url: str) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()


@dataclass
class Gateway:
    client: TestClient
    store: SqlDeviceStore
    clock: Clock

    def call(self, *, source: str = SOURCES[0], **params: str) -> dict[str, object]:
        query = {**JBLOGGS, "reprovision": "true", "deviceId": "phone-1", **params}
        body: dict[str, object] = self.client.simulate_get("/provisioning", params=query, remote_addr=source).json
        return body

    def rows(self, table: Any) -> int:
        self.store.flush_counts()  # the counts of the last second are written by a background thread
        with self.store.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())

    def counted(self) -> int:
        self.store.flush_counts()
        with self.store.engine.connect() as c:
            return int(c.execute(select(func.coalesce(func.sum(event_counts.c.count), 0))).scalar_one())


@pytest.fixture
def make_gateway(demo_ldif: Path, store_url: str) -> Iterator[Callable[..., Gateway]]:
    built: list[SqlDeviceStore] = []

    def build(**caps: int) -> Gateway:
        factory = demo_factory(demo_ldif)
        settings = demo_settings(
            factory,
            store=StoreSettings(url=SecretStr(store_url)),
            security=SecuritySettings(failure_floor_ms=0),
            attempts=AttemptsSettings(per_account="3/15 minutes", per_source="40/minute"),
        )
        clock = Clock()
        store = SqlDeviceStore(create_store_engine(store_url), now=clock, **caps)
        built.append(store)
        app = create_app(settings, directory=build_directory(settings, factory), store=store, now=clock)
        return Gateway(TestClient(app), store, clock)

    yield build
    for store in built:
        store.close()
        store.wait_for_prune()
        store.engine.dispose()


def random_text(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=size))


def test_failing_calls_with_random_names_add_at_most_one_row_per_minute_source_and_outcome(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway()
    rng = random.Random(14)  # noqa: S311 - random test names, no secret
    calls, minutes = 600, 5
    outcomes: set[str] = set()
    for number in range(calls):
        gateway.clock.now += timedelta(minutes=minutes) / calls
        kind = number % 3
        params = {"username": random_text(rng), "password": random_text(rng), "deviceId": random_text(rng, 20)}
        if kind == 1:
            params["password"] = " "  # empty password: no directory call
        answer = gateway.call(source=SOURCES[number % len(SOURCES)], **params)
        assert answer["update"] is False and answer["errmsg"]
    gateway.store.flush_counts()
    with gateway.store.engine.connect() as c:
        outcomes = set(c.execute(select(event_counts.c.outcome).distinct()).scalars())
        spanned = int(c.execute(select(func.count(event_counts.c.minute.distinct()))).scalar_one())
    assert outcomes <= {"login_failed", "rate_limited"}
    assert spanned <= minutes + 1
    assert gateway.rows(events) == 0  # not one row per call any more
    assert gateway.rows(event_counts) <= (minutes + 1) * len(SOURCES) * len(outcomes)
    assert gateway.counted() == calls  # every call is counted


def test_wrong_passwords_on_new_phones_of_a_real_user_are_counted_for_that_user(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway()
    for number in range(8):
        gateway.call(password=f"guess-{number}", deviceId=f"new-phone-{number}")
    assert gateway.rows(events) == 0
    counts = {c.outcome: c for c in gateway.store.list_event_counts(user="jbloggs")}
    assert {outcome: c.count for outcome, c in counts.items()} == {"login_failed": 3}
    assert {(c.login, c.source) for c in counts.values()} == {("jbloggs", SOURCES[0])}
    assert counts["login_failed"].user_key  # the directory user's key: found whatever login form was typed
    # Once the limit is full the calls are refused before any directory lookup: counted, for no user.
    limited = gateway.store.list_event_counts(outcome="rate_limited")
    assert sum(c.count for c in limited) == 5 and all(not c.login and not c.user_key for c in limited)


def test_events_of_enrolled_devices_keep_their_full_rows(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway()
    assert gateway.call(reprovision="false")["update"] is True
    gateway.call(password="wrong-Pa55")  # the enrolled phone's saved password fails: signed out
    gateway.call(username="nobody", password="x", deviceId="stranger")  # counted, not a row
    found = gateway.store.list_events(user="jbloggs")
    assert [(e.outcome, e.device_id, e.source) for e in found] == [
        ("sign_in_again", "phone-1", SOURCES[0]),
        ("enrolled", "phone-1", SOURCES[0]),
    ]
    assert "wrong-Pa55" not in repr(found)
    assert [(c.outcome, c.count, c.login) for c in gateway.store.list_event_counts()] == [("login_failed", 1, "")]


def test_many_sources_and_users_stay_under_the_caps(make_gateway: Callable[..., Gateway]) -> None:
    """A caller with many addresses (IPv6) and many real usernames: rows per hour stay under
    (sources cap + 1) x (rows-per-source cap + outcomes); the surplus is counted under (other)."""
    max_sources, max_rows = 4, 6
    gateway = make_gateway(max_counted_sources=max_sources, max_rows_per_source=max_rows)
    calls = 0
    for minute in range(20):
        gateway.clock.now = datetime(2026, 11, 26, 10, minute, 30, tzinfo=UTC)
        for source in range(10):
            gateway.call(source=f"2001:db8::{source:x}", username=f"nobody{minute}", password="x", deviceId="d")
            calls += 1
    outcomes = 2
    assert gateway.rows(event_counts) <= (max_sources + 1) * (max_rows + outcomes)
    assert gateway.counted() == calls
    rows = gateway.store.list_event_counts(limit=1000)
    assert {r.source for r in rows} == {f"2001:db8::{n:x}" for n in range(max_sources)} | {OTHER}
    assert any(r.user_key == OTHER and r.minute == datetime(2026, 11, 26, 10, tzinfo=UTC) for r in rows)


def test_the_prune_runs_in_its_own_transactions_not_in_a_request_s_write(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway()
    old = gateway.clock.now - timedelta(days=91)
    gateway.store.run(lambda tx: tx.add_event(Event(at=old, outcome="enrolled", login="jbloggs")))
    gateway.store.run(lambda tx: tx.count_event(Event(at=old, outcome="login_failed", source=SOURCES[0])))
    gateway.store._next_prune = gateway.clock.now  # the hour has passed
    statements = record_transactions(gateway.store.engine)
    assert gateway.call(reprovision="false")["update"] is True
    gateway.store.wait_for_prune()
    prunes = [group for group in statements if any(s.startswith("DELETE FROM events") for s in group)]
    assert prunes, "the prune did not run"
    for group in prunes:  # only the prune's own deletes in its transactions
        assert all(s.startswith("DELETE FROM") for s in group), group
    assert [e.outcome for e in gateway.store.list_events(user="jbloggs")] == ["enrolled"]  # the new one
    assert gateway.store.list_event_counts() == []


def record_transactions(engine: Engine) -> list[list[str]]:
    """The statements of each transaction the engine runs from now on (BEGIN ... COMMIT)."""
    groups: list[list[str]] = []
    open_groups: dict[int, list[str]] = defaultdict(list)

    def begin(connection: Any) -> None:
        open_groups[id(connection)] = []

    def statement(connection: Any, _cursor: Any, text: str, *_args: Any) -> None:
        if not text.startswith(("BEGIN", "PRAGMA")):
            open_groups[id(connection)].append(" ".join(text.split()))

    def end(connection: Any) -> None:
        groups.append(open_groups.pop(id(connection), []))

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    return groups
