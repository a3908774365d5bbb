"""One table of field limits (``gateway.field_limits``): the edge refuses what the store's columns cannot hold."""

from __future__ import annotations

import pytest
from falcon.testing import TestClient
from sqlalchemy import String, inspect

from gateway.field_limits import LIMITS
from gateway.settings import MessagesSettings, StoreSettings
from gateway.store.engine import create_store_engine
from gateway.store.tables import devices, events, metadata

VALID = {"username": "jbloggs", "password": "7578743843", "reprovision": "false", "deviceId": "phone-1"}
#: The request parameter, its limit, and a value of exactly that many characters.
FIELDS = [
    ("username", LIMITS.username, "u" * LIMITS.username),
    ("password", LIMITS.password, "p" * LIMITS.password),
    ("deviceId", LIMITS.device_id, "d" * LIMITS.device_id),
]


@pytest.mark.parametrize(("parameter", "limit", "at_limit"), FIELDS)
def test_a_value_at_its_limit_is_answered(demo_client: TestClient, parameter: str, limit: int, at_limit: str) -> None:
    response = demo_client.simulate_get("/provisioning", params={**VALID, parameter: at_limit})
    assert response.status_code == 200
    assert "errmsg" in response.json


@pytest.mark.parametrize(("parameter", "limit", "at_limit"), FIELDS)
def test_a_value_over_its_limit_is_a_400_naming_the_field_and_its_limit(
    demo_client: TestClient, parameter: str, limit: int, at_limit: str
) -> None:
    over = at_limit + "x"
    response = demo_client.simulate_get("/provisioning", params={**VALID, parameter: over})
    assert response.status_code == 400
    reason = f"{parameter} is longer than {limit} characters"
    assert response.json == {
        "update": False,
        "sipaccounts": [],
        "errmsg": f"{MessagesSettings().bad_request} ({reason})",
    }
    assert over not in response.text and at_limit[:20] not in response.text


def test_a_username_is_measured_as_the_store_keeps_it_lower_cased(demo_client: TestClient) -> None:
    # "İ" lower-cases to two characters: 200 of them are 400 characters in the store's login column.
    response = demo_client.simulate_get("/provisioning", params={**VALID, "username": "\u0130" * 200})
    assert response.status_code == 400
    assert f"username is longer than {LIMITS.username} characters" in response.json["errmsg"]


def test_a_device_id_at_the_limit_enrols_and_is_kept_whole(
    demo_client: TestClient, store_settings: StoreSettings
) -> None:
    device_id = "d" * LIMITS.device_id
    assert demo_client.simulate_get("/provisioning", params={**VALID, "deviceId": device_id}).json["update"] is True
    engine = create_store_engine(store_settings.url.get_secret_value())
    with engine.connect() as connection:
        stored = connection.execute(devices.select()).mappings().all()
    engine.dispose()
    assert [row["device_id"] for row in stored] == [device_id]


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        (devices.c.login, LIMITS.username),
        (events.c.login, LIMITS.username),
        (devices.c.device_id, LIMITS.device_id),
        (events.c.device_id, LIMITS.device_id),
        (devices.c.user_key, LIMITS.user_key),
        (events.c.user_key, LIMITS.user_key),
        (devices.c.user_dn, LIMITS.user_dn),
        (devices.c.last_source, LIMITS.source),
        (events.c.source, LIMITS.source),
    ],
)
def test_the_store_columns_are_as_wide_as_the_limit_table(column: object, limit: int) -> None:
    assert isinstance(column.type, String)  # type: ignore[attr-defined]
    assert column.type.length == limit  # type: ignore[attr-defined]


def test_the_migrated_store_has_the_column_sizes_the_tables_declare(store_settings: StoreSettings) -> None:
    # The migrations create the columns; a migration that sized one differently would let the edge
    # accept what the store refuses (or the reverse).
    engine = create_store_engine(store_settings.url.get_secret_value())
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        migrated = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if isinstance(column.type, String) and column.type.length is not None:
                length = getattr(migrated[column.name], "length", None)
                assert length == column.type.length, f"{table.name}.{column.name}"
    engine.dispose()
