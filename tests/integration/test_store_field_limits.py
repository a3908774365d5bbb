"""Field limits against the real stores: values at the limit fit; a value the store refuses is a bug, not an outage.

On PostgreSQL a value longer than its column is a ``DataError``. It used to be handled as a store
outage, so the phone was told "temporarily unavailable" on every call, for ever. A statement the
store refuses is now ``StoreRejected``: the app answers the generic 500 of a bug and logs it at
ERROR with the request id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, insert

from gateway.app import build_directory, build_store, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.errors import StoreRejected, StoreUnavailable
from gateway.field_limits import LIMITS
from gateway.models import Device, DeviceStatus, Event
from gateway.settings import MessagesSettings, StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.revisions import upgrade
from gateway.store.sql import SqlDeviceStore
from gateway.store.tables import devices
from tests.support.postgres import private_schema

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PASSWORD = "7578743843"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store: a SQLite file, or a private schema on the machine's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
        _migrate(url)
        yield url
        return
    with private_schema() as url:
        _migrate(url)
        yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = create_store_engine(store_url)
    yield engine
    engine.dispose()


def _migrate(url: str) -> None:
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()


def _client(demo_ldif: Path, store_url: str) -> tuple[TestClient, SqlDeviceStore]:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=StoreSettings(url=SecretStr(store_url)))
    store = build_store(settings)
    return TestClient(create_app(settings, directory=build_directory(settings, factory), store=store)), store


def _add_user(demo_ldif: Path, uid: str, mail: str, entry_uuid: str) -> None:
    """A phone user in the demo directory who signs in by ``mail`` (which may be as long as a login may be)."""
    demo_ldif.write_text(
        demo_ldif.read_text()
        + f"""
dn: uid={uid},ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: sipAccount
uid: {uid}
cn: Long Name
sn: Name
mail: {mail}
entryUUID: {entry_uuid}
sipExtension: 1901
sipSecret: 19de?8-ln
userPassword: {PASSWORD}
"""
    )
    text = demo_ldif.read_text()
    group = re.search(r"^dn: cn=phone-users,[^\n]*\n(?:[^\n]+\n)*", text, re.MULTILINE)
    assert group, "the demo directory has no phone-users group"
    block = group.group(0)
    demo_ldif.write_text(text.replace(block, block + f"member: uid={uid},ou=people,dc=example,dc=com\n"))


def test_a_login_and_device_id_at_the_limit_enrol_and_round_trip(demo_ldif: Path, store_url: str) -> None:
    login = "l" * (LIMITS.username - len("@example.com")) + "@example.com"
    device_id = "d" * LIMITS.device_id
    _add_user(demo_ldif, "lname", login, "0b6f2f4e-6d8e-4a57-9d9b-5d3f1c0f1901")
    client, store = _client(demo_ldif, store_url)
    params = {"username": login.upper(), "password": PASSWORD, "deviceId": device_id}
    first = client.simulate_get("/provisioning", params={**params, "reprovision": "false"})
    assert first.status_code == 200
    assert first.json["update"] is True and [a["sipusername"] for a in first.json["sipaccounts"]] == ["1901"]
    again = client.simulate_get("/provisioning", params={**params, "reprovision": "true"})
    assert again.json == {"update": False, "sipaccounts": [], "errmsg": ""}
    [device] = store.list_devices(login)
    assert (device.login, device.device_id, device.status) == (login, device_id, DeviceStatus.ENROLLED)
    assert [(e.login, e.device_id) for e in store.list_events(user=login)] == [(login, device_id)]
    store.engine.dispose()


def test_values_the_gateway_writes_itself_are_cut_to_their_column(engine: Engine) -> None:
    store = SqlDeviceStore(engine, now=lambda: NOW)
    source = "2001:db8::1%" + "z" * 100  # a scoped address is as long as its zone name
    store.run(
        lambda tx: tx.save_device(
            Device(user_key="k", device_id="d", status=DeviceStatus.ENROLLED, last_seen=NOW, last_source=source)
        )
    )
    store.run(lambda tx: tx.add_event(Event(at=NOW, outcome="enrolled", source=source, detail="x" * 5000)))
    found = store.find_device("k", "d")
    assert found is not None and found.last_source == source[: LIMITS.source]
    [event] = store.list_events()
    assert (event.source, event.detail) == (source[: LIMITS.source], "x" * LIMITS.event_detail)


@pytest.mark.postgres
def test_a_value_longer_than_its_column_is_a_bug_not_an_outage_on_postgresql() -> None:
    with private_schema() as url:
        _migrate(url)
        store = SqlDeviceStore(create_store_engine(url), now=lambda: NOW)
        too_long = Device(user_key="k", device_id="d" * (LIMITS.device_id + 1), status=DeviceStatus.ENROLLED)
        with pytest.raises(StoreRejected, match="DataError") as refused:
            store.run(lambda tx: tx.save_device(too_long))
        assert not isinstance(refused.value, StoreUnavailable)
        assert "ddd" not in str(refused.value)
        # A read the database refuses (a NUL is no PostgreSQL text) is a bug too.
        with pytest.raises(StoreRejected, match="DataError"):
            store.find_device("k", "a\x00b")
        # The store still answers: nothing was an outage.
        assert store.find_device("k", "d") is None
        store.engine.dispose()


def test_a_statement_the_store_refuses_is_a_bug_not_an_outage(engine: Engine) -> None:
    store = SqlDeviceStore(engine, now=lambda: NOW)
    missing_status = insert(devices).values(user_key="k", device_id="d", status=None, first_seen=NOW, last_seen=NOW)
    with pytest.raises(StoreRejected, match="IntegrityError") as refused:
        store.run(lambda tx: tx.execute(missing_status))
    assert not isinstance(refused.value, StoreUnavailable)
    assert store.list_devices() == []


@pytest.mark.postgres
def test_a_store_bug_answers_the_generic_500_and_logs_an_error_with_the_request_id(
    demo_ldif: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The directory's key for this user is longer than devices.user_key: the edge cannot see it,
    # the store refuses it. The phone gets the answer of a bug, not "temporarily unavailable" as
    # for an outage, and the log says which request failed (and never the password).
    _add_user(demo_ldif, "longkey", "long.key@example.com", "k" * (LIMITS.user_key + 1))
    with private_schema() as url:
        _migrate(url)
        client, store = _client(demo_ldif, url)
        caplog.set_level(logging.INFO)
        query = {"username": "longkey", "password": PASSWORD, "reprovision": "false", "deviceId": "phone-1"}
        response = client.simulate_get("/provisioning", params=query)
        assert response.status_code == 500
        assert response.json == {"update": False, "sipaccounts": [], "errmsg": MessagesSettings().unavailable}
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        [request_line] = [r for r in caplog.records if r.name == "gateway.requests"]
        request_id = getattr(request_line, "request_id", None)
        assert request_id and request_id in errors[0].getMessage()
        assert getattr(errors[0], "request_id", None) == request_id
        assert "StoreRejected" in errors[0].getMessage() and "DataError" in errors[0].getMessage()
        assert not [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert PASSWORD not in caplog.text
        store.engine.dispose()
