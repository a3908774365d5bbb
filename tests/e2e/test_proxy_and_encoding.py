"""Through real waitress: client addresses behind a trusted proxy, and passwords as typed."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway


def get(gateway: RunningGateway, query: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    status, _, body = gateway.get(f"/provisioning?{query}", headers=headers)
    return status, json.loads(body)


@pytest.fixture
def proxied_gateway(demo_ldif: Path, tmp_path: Path) -> RunningGateway:
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}",
        "GATEWAY_SERVER__TRUSTED_PROXY": "127.0.0.1",
        "GATEWAY_SECURITY__ALLOWED_NETWORKS": '["203.0.113.0/24"]',
    }
    gateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gw.log", env=env)
    yield gateway  # type: ignore[misc]
    stop_gateway(gateway)


SEED = "username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"


def test_client_address_comes_from_the_trusted_proxy_header(proxied_gateway: RunningGateway) -> None:
    # 127.0.0.1 is the trusted proxy: its X-Forwarded-For names the client, checked by the allow-list.
    status, body = get(proxied_gateway, SEED, {"X-Forwarded-For": "203.0.113.50"})
    assert (status, body["update"]) == (200, True)
    assert "source=203.0.113.50" in proxied_gateway.log()
    assert get(proxied_gateway, SEED, {"X-Forwarded-For": "198.51.100.9"})[0] == 403


def test_forwarded_header_from_an_untrusted_peer_is_ignored(demo_ldif: Path, tmp_path: Path) -> None:
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}",
        "GATEWAY_SERVER__TRUSTED_PROXY": "192.0.2.1",  # not us
        "GATEWAY_SECURITY__ALLOWED_NETWORKS": '["203.0.113.0/24"]',
    }
    gateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gw.log", env=env)
    try:
        # A spoofed header gains nothing: the TCP peer (127.0.0.1) is checked, and refused.
        assert get(gateway, SEED, {"X-Forwarded-For": "203.0.113.50"})[0] == 403
    finally:
        stop_gateway(gateway)


@pytest.mark.parametrize("password", ["p+ss&w%rd#1=?", "two  spaces ", "Grüße-Пароль-密码-€"])
def test_passwords_with_reserved_and_non_ascii_characters_end_to_end(
    demo_ldif: Path, tmp_path: Path, password: str
) -> None:
    encoded = base64.b64encode(password.encode()).decode()
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", f"userPassword:: {encoded}"))
    gateway = start_gateway(
        ["--demo-directory", str(demo_ldif)],
        tmp_path / "gw.log",
        env={"GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}"},
    )
    try:
        query = f"username=jbloggs&password={quote(password, safe='')}&reprovision=false&deviceId=d"
        assert get(gateway, query, {})[1]["update"] is True
        assert password not in gateway.log()
    finally:
        stop_gateway(gateway)
