"""Hostile input at the edge: never a bypass, never a 5xx (DESIGN §2, §6)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import MessagesSettings, SecuritySettings, StoreSettings
from tests.support.payloads import LDAP_INJECTION, PASSWORD_PAYLOADS

TOKEN = "0f3c5d8e9a7b41c2a6e4d1f0b9c8a7e6"
SEED = "username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"
GENERIC = MessagesSettings().login_failed


@pytest.fixture
def client_for(demo_ldif: Path, store_settings: StoreSettings) -> Callable[..., TestClient]:
    def build(**security: object) -> TestClient:
        factory = demo_factory(demo_ldif)
        settings = demo_settings(
            factory,
            store=store_settings,
            security=SecuritySettings(failure_floor_ms=0, **security),  # type: ignore[arg-type]
        )
        return TestClient(create_app(settings, directory=build_directory(settings, factory)))

    return build


@pytest.mark.parametrize("username", LDAP_INJECTION)
def test_injection_in_username_never_provisions(client_for: Callable[..., TestClient], username: str) -> None:
    client = client_for()
    for password in ("7578743843", "*", "Sunflower-77"):
        response = client.simulate_get(
            "/provisioning",
            params={"username": username, "password": password, "reprovision": "false", "deviceId": "d"},
        )
        assert response.status_code in (200, 400)
        assert response.json["update"] is False
        assert response.json["sipaccounts"] == []


@pytest.mark.parametrize("password", PASSWORD_PAYLOADS)
def test_injection_in_password_never_provisions(client_for: Callable[..., TestClient], password: str) -> None:
    response = client_for().simulate_get(
        "/provisioning", params={"username": "jbloggs", "password": password, "reprovision": "false", "deviceId": "d"}
    )
    assert response.status_code == 200
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": GENERIC}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (SEED.replace("jbloggs", "jb%FFloggs"), 400),  # invalid UTF-8
        (SEED.replace("7578743843", "%C3%28"), 400),  # invalid UTF-8 in the password
        (SEED + "&x=1" * 30, 400),  # too many parameters
        (SEED.replace("jbloggs", "jb%00loggs"), 400),  # NUL
        (SEED.replace("jbloggs", "jb%1Bloggs"), 400),  # ESC
        (SEED.replace("jbloggs", "jb%E2%80%AEloggs"), 400),  # right-to-left override (format char)
        (SEED.replace("7578743843", "x" * 1025), 400),
        (SEED.replace("jbloggs", "j" * 5000), 400),
        (SEED + "&password=second", 400),  # repeated
        (SEED.replace("deviceId", "deviceid"), 400),  # the seed's exact names
        ("", 400),
        ("&&&&", 400),
        ("username", 400),
        ("=x&=y", 400),
        (SEED.replace("=false", "=%66alse"), 200),  # escapes are decoded
        (SEED.replace("jbloggs", "%6Abloggs"), 200),
    ],
)
def test_malformed_and_odd_queries_never_5xx(client_for: Callable[..., TestClient], query: str, status: int) -> None:
    response = client_for().simulate_get("/provisioning", query_string=query)
    assert response.status_code == status
    assert set(response.json) == {"update", "sipaccounts", "errmsg"}
    assert "Traceback" not in response.text


def test_plus_is_a_space_and_percent_2b_is_a_plus(demo_ldif: Path, client_for: Callable[..., TestClient]) -> None:
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", "userPassword: a+b c"))
    client = client_for()

    def update(password_escaped: str) -> bool:
        query = f"username=jbloggs&password={password_escaped}&reprovision=false&deviceId={password_escaped}"
        return bool(client.simulate_get("/provisioning", query_string=query).json["update"])

    assert update("a%2Bb%20c") is True
    assert update("a%2Bb+c") is True
    assert update("a+b+c") is False  # an unescaped + is a space


# A tab or a soft hyphen is proven against real slapd (tests/integration) and on the demo directory
# (tests/unit/test_oracles.py: it compares the octets, like slapd, where ldap3's mock SASLpreps).
@pytest.mark.parametrize("password", ["p+ss&w%rd#1=?", "with spaces  ", "Grüße-Пароль-密码", "€%25+", " lead"])
def test_passwords_with_special_characters_work(
    demo_ldif: Path, client_for: Callable[..., TestClient], password: str
) -> None:
    encoded = base64.b64encode(password.encode()).decode()  # LDIF: base64 keeps spaces and tabs
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", f"userPassword:: {encoded}"))
    query = f"username=jbloggs&password={quote(password, safe='')}&reprovision=false&deviceId=d"
    response = client_for().simulate_get("/provisioning", query_string=query)
    assert response.json["update"] is True


def test_secret_path_token(client_for: Callable[..., TestClient], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(path_token=SecretStr(TOKEN))
    assert client.simulate_get(f"/provisioning/{TOKEN}", query_string=SEED).json["update"] is True
    assert client.simulate_get(f"/provisioning/{TOKEN}/", query_string=SEED).status_code == 200
    for path in (
        "/provisioning",
        "/provisioning/",
        f"/provisioning/{TOKEN[:-1]}x",
        f"/provisioning/{TOKEN}x",
        "/provisioning/" + TOKEN.upper(),
    ):
        response = client.simulate_get(path, query_string=SEED)
        assert response.status_code == 404, path
        assert "7578743843" not in response.text
    assert TOKEN not in caplog.text
    assert "/provisioning/***" in caplog.text


def test_source_outside_the_allow_list_is_refused(client_for: Callable[..., TestClient]) -> None:
    client = client_for(allowed_networks=("203.0.113.0/24", "2001:db8::/32"))
    assert client.simulate_get("/provisioning", query_string=SEED, remote_addr="203.0.113.9").status_code == 200
    assert client.simulate_get("/provisioning", query_string=SEED, remote_addr="2001:db8::7").status_code == 200
    refused = client.simulate_get("/provisioning", query_string=SEED, remote_addr="198.51.100.1")
    assert refused.status_code == 403
    assert refused.json["update"] is False
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("token", ["short", "has/slash-and-more-chars", "x" * 200, "spaces are not ok here"])
def test_bad_path_token_is_a_configuration_error(token: str) -> None:
    with pytest.raises(ValueError, match="path_token"):
        SecuritySettings(path_token=SecretStr(token))


def test_bad_network_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an address or CIDR network"):
        SecuritySettings(allowed_networks=("10.0.0.0/33",))
