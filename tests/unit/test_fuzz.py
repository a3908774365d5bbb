"""Fuzzing the request surface with hypothesis: no input makes a 5xx or a traceback.

Bounded for CI (300 examples per property); run a longer campaign with
``GATEWAY_FUZZ_EXAMPLES=20000 pytest tests/unit/test_fuzz.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from falcon.testing import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import AttemptsSettings, SecuritySettings, StoreSettings
from tests.support.payloads import LDAP_INJECTION

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "300"))
NAMES = ["username", "password", "reprovision", "deviceId", "x", "user", ""]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    from gateway.demo import DEMO_DIRECTORY
    from gateway.store.engine import create_store_engine
    from gateway.store.revisions import upgrade

    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'devices.sqlite3'}"
    upgrade(create_store_engine(url))
    factory = demo_factory(Path(DEMO_DIRECTORY))
    settings = demo_settings(
        factory,
        store=StoreSettings(url=url),  # type: ignore[arg-type]
        security=SecuritySettings(failure_floor_ms=0),
        attempts=AttemptsSettings(per_account="", per_source=""),
    )
    return TestClient(create_app(settings, directory=build_directory(settings, factory)))


def assert_sane(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code in (200, 400, 403, 404):
        assert set(response.json) == {"update", "sipaccounts", "errmsg"}


raw_byte_escapes = st.binary(max_size=64).map(lambda b: "".join(f"%{x:02X}" for x in b))
texts = st.one_of(st.text(max_size=300), raw_byte_escapes, st.sampled_from(LDAP_INJECTION))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(NAMES), texts), max_size=8))
def test_any_parameters_are_answered_without_a_server_error(client: TestClient, pairs: list[tuple[str, str]]) -> None:
    query = "&".join(f"{quote(name)}={value if value.startswith('%') else quote(value)}" for name, value in pairs)
    assert_sane(client.simulate_get("/provisioning", query_string=query))


@FUZZ
@given(st.text(alphabet=st.characters(codec="latin-1"), max_size=400).filter(lambda q: not q.startswith("?")))
def test_any_raw_query_string_is_answered_without_a_server_error(client: TestClient, query: str) -> None:
    assert_sane(client.simulate_get("/provisioning", query_string=query))


@FUZZ
@given(texts, texts, st.sampled_from(["true", "false", "TRUE", "maybe", ""]), texts)
def test_any_credentials_are_answered_without_a_server_error(
    client: TestClient, username: str, password: str, reprovision: str, device: str
) -> None:
    params = {"username": username, "password": password, "reprovision": reprovision, "deviceId": device}
    response = client.simulate_get("/provisioning", params=params)
    assert_sane(response)
    known = {"7578743843", "Sunflower-77"}
    assert not (response.status_code == 200 and response.json["update"] and password not in known)


@FUZZ
@given(st.text(max_size=100))
def test_any_path_is_answered_without_a_server_error(client: TestClient, suffix: str) -> None:
    assert_sane(client.simulate_get("/provisioning/" + quote(suffix), query_string="username=a"))
