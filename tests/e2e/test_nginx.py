"""nginx from Debian's packages in front of the gateway, with the documented site config:
the provisioning call works through TLS, the client address reaches the gateway, and nginx's
logs hold no password — also when the gateway is down and nginx answers 502 itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway
from tests.support.nginx import NginxLauncher, free_port

PASSWORD = "7578743843"
SEED = f"/provisioning?username=jbloggs&password={PASSWORD}&reprovision=false&deviceId=3kQs875391li29"


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[NginxLauncher]:
    with NginxLauncher(tmp_path) as launch:
        yield launch


def test_provisioning_through_nginx_keeps_the_password_out_of_its_logs(
    nginx_in_front: NginxLauncher, demo_ldif: Path, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_STORE__URL": f"sqlite:///{tmp_path / 'devices.sqlite3'}",
        "GATEWAY_SERVER__TRUSTED_PROXY": "127.0.0.1",
    }
    gateway: RunningGateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "gw.log", env=env)
    try:
        proxy = nginx_in_front([int(gateway.base_url.rsplit(":", 1)[1])])
        status, body = proxy.get(SEED)
        assert status == 200
        assert json.loads(body)["sipaccounts"][0]["sipusername"] == "1001"
        assert proxy.get(SEED.replace(PASSWORD, "Wrong-Pass-1").replace("3kQs", "zzzz"))[0] == 200
        assert proxy.get("/admin?password=" + PASSWORD)[0] == 404
        logs = proxy.logs()
        assert "GET /provisioning HTTP/1.1" in logs
        assert PASSWORD not in logs and "Wrong-Pass-1" not in logs
        assert "source=127.0.0.1" in gateway.log()  # the client, as nginx saw it, is loopback here
    finally:
        stop_gateway(gateway)


def test_gateway_down_is_a_502_and_nginx_logs_no_password(nginx_in_front: NginxLauncher) -> None:
    # At its default level nginx's error log would quote the request line, password included,
    # for every call it cannot pass on; the documented site logs those calls without the query.
    nobody_listens = free_port()
    proxy = nginx_in_front([nobody_listens])
    assert proxy.get(SEED)[0] == 502
    logs = proxy.logs()
    assert '"GET /provisioning HTTP/1.1" 502 ' in logs and f"upstream=127.0.0.1:{nobody_listens} 502" in logs
    assert PASSWORD not in logs
