"""Concurrent calls for the same device: many threads, and two gateway processes on one PostgreSQL.

A change is announced to a device exactly once, whichever thread or process answers, and no
call's record is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store.engine import create_store_engine
from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway
from tests.support.postgres import private_schema

QUERY = "/provisioning?username=jbloggs&password=7578743843&reprovision={}&deviceId=shared-phone"
CALLS = 40


def burst(gateways: list[RunningGateway], calls: int = CALLS) -> list[bool]:
    """``calls`` concurrent reprovision calls spread over the gateways; each call's ``update``."""

    def one(index: int) -> bool:
        status, _, body = gateways[index % len(gateways)].get(QUERY.format("true"))
        assert status == 200
        answer = json.loads(body)
        assert answer["errmsg"] == ""
        return bool(answer["update"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(calls)))


def change_extension(ldif: Path, old: str, new: str) -> None:
    ldif.write_text(ldif.read_text().replace(f"sipExtension: {old}", f"sipExtension: {new}"))


def events_by_outcome(url: str) -> dict[str, int]:
    """The audit trail's outcomes. Unchanged check-ins answered from a fresh record write nothing,
    so only decisions that changed something are counted exactly."""
    engine = create_store_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT outcome, count(*) FROM events GROUP BY outcome")).all()
            return {outcome: int(count) for outcome, count in rows}
    finally:
        engine.dispose()


def test_many_threads_same_device_sqlite_change_announced_once(demo_ldif: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
    gateway = start_gateway(
        ["--demo-directory", str(demo_ldif), "--threads", "8"], tmp_path / "gw.log", env={"GATEWAY_STORE__URL": url}
    )
    try:
        assert json.loads(gateway.get(QUERY.format("false"))[2])["update"] is True
        change_extension(demo_ldif, "1001", "1501")
        assert burst([gateway]).count(True) == 1
        change_extension(demo_ldif, "1501", "1701")
        assert burst([gateway]).count(True) == 1
    finally:
        stop_gateway(gateway)
    events = events_by_outcome(url)
    assert (events.get("enrolled"), events.get("changed")) == (1, 2)
    assert set(events) <= {"enrolled", "changed", "unchanged"}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with private_schema() as url:
        yield url


@pytest.mark.postgres
def test_two_processes_on_one_postgresql_decide_like_one(demo_ldif: Path, tmp_path: Path, postgres_url: str) -> None:
    env = {"GATEWAY_STORE__URL": postgres_url}
    first = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "a.log", env=env)
    second = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "b.log", env=env)
    try:
        # A migrated phone arrives with reprovision=true at both instances at once: enrolled once.
        assert burst([first, second]).count(True) == 1
        for old, new in [("1001", "1501"), ("1501", "1701"), ("1701", "1001")]:
            change_extension(demo_ldif, old, new)
            assert burst([first, second]).count(True) == 1
    finally:
        stop_gateway(first)
        stop_gateway(second)
    events = events_by_outcome(postgres_url)
    assert (events.get("enrolled"), events.get("changed")) == (1, 3)
    assert set(events) <= {"enrolled", "changed", "unchanged"}
