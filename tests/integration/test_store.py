"""The device store on SQLite and on the real PostgreSQL: migrations, records, outages."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from gateway.errors import StoreOutOfDate, StoreUnavailable
from gateway.field_limits import LIMITS
from gateway.models import Device, DeviceStatus, Event
from gateway.store.engine import create_store_engine
from gateway.store.revisions import current_revision, ensure_current, head_revision, upgrade
from gateway.store.sql import SqlDeviceStore
from tests.support.postgres import CuttableProxy, private_schema

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_store_engine(f"sqlite:///{tmp_path / 'devices.sqlite3'}")
        yield engine
        engine.dispose()
        return
    with private_schema() as url:
        engine = create_store_engine(url)
        yield engine
        engine.dispose()


def columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_migrate_from_empty_creates_every_table(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert {"devices", "events", "fingerprint_keys", "gateway_state"} <= set(inspect(engine).get_table_names())
    assert "password_changed_at" in columns(engine, "devices")


def test_migrate_from_the_previous_version_keeps_devices(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert "password_changed_at" not in columns(engine, "devices")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO devices (user_key, device_id, status, login, user_dn, force_update, first_seen, last_seen,"
                " last_source, version) VALUES ('k', 'd', 'enrolled', 'jbloggs', 'uid=jbloggs', false, :t, :t, '', 1)"
            ),
            {"t": NOW},
        )
    with pytest.raises(StoreOutOfDate, match="the device store is at schema 0001, this gateway needs 0003"):
        ensure_current(engine)
    upgrade(engine)
    ensure_current(engine)
    device = SqlDeviceStore(engine, now=lambda: NOW).find_device("k", "d")
    assert device is not None
    assert (device.login, device.status, device.password_changed_at) == ("jbloggs", DeviceStatus.ENROLLED, None)


def test_migrate_from_0002_adds_the_counted_failures_and_keeps_the_events(engine: Engine) -> None:
    upgrade(engine, "0002")
    SqlDeviceStore(engine, now=lambda: NOW).run(lambda tx: tx.add_event(Event(at=NOW, outcome="enrolled", login="j")))
    assert "event_counts" not in inspect(engine).get_table_names()
    with pytest.raises(StoreOutOfDate, match="the device store is at schema 0002, this gateway needs 0003"):
        ensure_current(engine)
    assert upgrade(engine) == "0003"
    store = SqlDeviceStore(engine, now=lambda: NOW)
    assert [e.login for e in store.list_events()] == ["j"]
    assert {"minute", "source", "outcome", "user_key", "login", "count", "last_at"} <= columns(engine, "event_counts")
    assert store.list_event_counts() == []


def test_counted_failures_add_up_in_one_row_when_calls_race(engine: Engine) -> None:
    """Concurrent writers of the same minute, source and outcome: one row whose count is every
    call (the UPSERT takes the insert race; on SQLite the writer lock serialises them)."""
    upgrade(engine)
    store = SqlDeviceStore(engine, now=lambda: NOW)
    source = "2001:db8::1%" + "z" * 100  # cut to its column, as the events' source is
    failure = Event(at=NOW.replace(second=17), outcome="login_failed", login="Nobody", source=source, device_id="x")

    def count(_: int) -> None:
        for _ in range(25):
            store.run(lambda tx: tx.count_event(failure))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(count, range(8)))
    store.wait_for_prune()
    [row] = store.list_event_counts()
    assert (row.minute, row.source, row.outcome, row.count) == (NOW, source[: LIMITS.source], "login_failed", 200)
    assert (row.login, row.user_key) == ("", "")  # an unknown login is not kept: it may be a mistyped password


def test_gateway_refuses_an_empty_store(engine: Engine) -> None:
    with pytest.raises(StoreOutOfDate, match="the device store is empty"):
        ensure_current(engine)


def test_gateway_refuses_a_store_newer_than_itself(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreOutOfDate, match="newer than this gateway"):
        ensure_current(engine)


def test_device_and_event_round_trip(engine: Engine) -> None:
    upgrade(engine)
    store = SqlDeviceStore(engine, now=lambda: NOW)
    saved = store.run(
        lambda tx: tx.save_device(
            Device(
                user_key="guid-1",
                device_id="dev-1",
                status=DeviceStatus.ENROLLED,
                login="JBloggs",
                user_dn="CN=Joe",
                account_fingerprint="ab" * 32,
                fingerprint_key_id="k1",
                password_changed_at="133",
                last_seen=NOW,
                last_source="203.0.113.9",
            )
        )
    )
    store.run(
        lambda tx: tx.add_event(
            Event(
                at=NOW,
                outcome="enrolled",
                login="JBloggs",
                user_key="guid-1",
                device_id="dev-1",
                source="203.0.113.9",
                detail="bind ok",
            )
        )
    )
    found = store.find_device("guid-1", "dev-1")
    assert found == saved.__class__(**{**saved.__dict__, "login": "jbloggs"})
    assert store.find_device_by_login("JBLOGGS", "dev-1") == found
    assert [e.outcome for e in store.list_events(user="jbloggs")] == ["enrolled"]


def test_fingerprint_key_is_created_once_and_shared(engine: Engine) -> None:
    upgrade(engine)
    first = SqlDeviceStore(engine).fingerprint_keys()
    second = SqlDeviceStore(engine).fingerprint_keys()
    assert first == second
    assert first.current_id == "k1"


@pytest.mark.postgres
def test_store_outage_is_an_error_the_service_can_answer_and_nothing_is_lost() -> None:
    with private_schema() as direct_url:
        migrator = create_store_engine(direct_url)
        upgrade(migrator)
        migrator.dispose()
        proxy = CuttableProxy(5432)
        store = SqlDeviceStore(create_store_engine(direct_url.replace(":5432/", f":{proxy.port}/"), timeout=2))
        store.run(
            lambda tx: tx.save_device(Device(user_key="k", device_id="d", status=DeviceStatus.ENROLLED, last_seen=NOW))
        )
        proxy.cut()
        started = datetime.now(UTC)
        with pytest.raises(StoreUnavailable):
            store.find_device("k", "d")
        assert (datetime.now(UTC) - started).total_seconds() < 5
        proxy.restore()
        found = store.find_device("k", "d")
        assert found is not None and found.status is DeviceStatus.ENROLLED
        proxy.cut()
        store.engine.dispose()


@pytest.mark.postgres
def test_gateway_answers_through_a_store_outage_and_loses_nothing(demo_ldif: Path) -> None:
    from falcon.testing import TestClient
    from pydantic import SecretStr

    from gateway.app import build_directory, build_store, create_app
    from gateway.demo.settings import demo_factory, demo_settings
    from gateway.settings import MessagesSettings, StoreSettings

    with private_schema() as direct_url:
        migrator = create_store_engine(direct_url)
        upgrade(migrator)
        migrator.dispose()
        proxy = CuttableProxy(5432)
        proxied = StoreSettings(url=SecretStr(direct_url.replace(":5432/", f":{proxy.port}/")), timeout=2)
        factory = demo_factory(demo_ldif)
        settings = demo_settings(factory, store=proxied)
        store = build_store(settings)
        client = TestClient(create_app(settings, directory=build_directory(settings, factory), store=store))
        params = {"username": "jbloggs", "password": "7578743843", "deviceId": "phone-1"}

        def call(reprovision: str) -> dict[str, object]:
            body: dict[str, object] = client.simulate_get(
                "/provisioning", params={**params, "reprovision": reprovision}
            ).json
            return body

        assert call("false")["update"] is True
        proxy.cut()
        started = datetime.now(UTC)
        assert call("true") == {"update": False, "sipaccounts": [], "errmsg": MessagesSettings().unavailable}
        assert (datetime.now(UTC) - started).total_seconds() < 10
        proxy.restore()
        assert call("true") == {"update": False, "sipaccounts": [], "errmsg": ""}
        devices = store.list_devices("jbloggs")
        assert [(d.device_id, d.status) for d in devices] == [("phone-1", DeviceStatus.ENROLLED)]
        # The unchanged check-in of a fresh record writes nothing; the enrolment is still there.
        assert [e.outcome for e in store.list_events(user="jbloggs")] == ["enrolled"]
        proxy.cut()
        store.engine.dispose()
