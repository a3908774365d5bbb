"""The gateway as SessionTalk meets it: a real waitress process on a free port, real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import RunningGateway

SEED = "/provisioning?username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"


def test_seed_request_gets_jbloggs_account_over_real_http(demo_gateway: RunningGateway) -> None:
    status, headers, body = demo_gateway.get(SEED)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert json.loads(body) == {
        "update": True,
        "sipaccounts": [
            {
                "sipusername": "1001",
                "sippassword": "29de?8-jb",
                "transport": "UDP",
                "authusername": "1001",
                "video": "Enabled",
            }
        ],
        "errmsg": "",
    }


def test_trailing_slash_url_from_the_portal_works(demo_gateway: RunningGateway) -> None:
    status, _, body = demo_gateway.get(SEED.replace("/provisioning?", "/provisioning/?"))
    assert status == 200
    assert json.loads(body)["update"] is True


def test_wrong_password_is_a_200_with_the_generic_message(demo_gateway: RunningGateway) -> None:
    status, _, body = demo_gateway.get(SEED.replace("7578743843", "0000000000"))
    assert status == 200
    assert json.loads(body) == {
        "update": False,
        "sipaccounts": [],
        "errmsg": "Sign-in failed. Check your username and password.",
    }


def test_malformed_request_is_a_400_with_errmsg(demo_gateway: RunningGateway) -> None:
    status, headers, body = demo_gateway.get("/provisioning?username=jbloggs&password=x&reprovision=false")
    assert status == 400
    assert headers["Cache-Control"] == "no-store"
    assert json.loads(body)["errmsg"].endswith("(deviceId is missing)")


def test_server_does_not_announce_itself(demo_gateway: RunningGateway) -> None:
    _, headers, _ = demo_gateway.get(SEED)
    assert "waitress" not in headers.get("Server", "").lower()


def test_password_never_reaches_the_log(demo_gateway: RunningGateway) -> None:
    demo_gateway.get(SEED)
    demo_gateway.get(SEED.replace("7578743843", "WrongPass-123").replace("3kQs875391li29", "another-phone"))
    log = demo_gateway.log()
    assert "outcome=enrolled" in log
    assert "outcome=login_failed" in log
    assert "7578743843" not in log
    assert "WrongPass-123" not in log
    assert "29de?8-jb" not in log


def test_demo_directory_edit_changes_the_next_answer(demo_gateway: RunningGateway, demo_ldif: Path) -> None:
    demo_ldif.write_text(demo_ldif.read_text().replace("sipSecret: 29de?8-jb", "sipSecret: rotated-secret"))
    _, _, body = demo_gateway.get(SEED)
    assert json.loads(body)["sipaccounts"][0]["sippassword"] == "rotated-secret"


def test_admin_listener_serves_health_readiness_and_metrics(demo_gateway: RunningGateway) -> None:
    import urllib.request

    assert demo_gateway.admin_url.startswith("http://127.0.0.1:")
    demo_gateway.get(SEED)

    def admin(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(demo_gateway.admin_url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode()

    assert admin("/healthz") == (200, '{"status": "alive"}')
    assert admin("/readyz") == (200, '{"status": "ready", "failed": []}')
    status, metrics = admin("/metrics")
    assert status == 200
    assert 'gateway_requests_total{outcome="enrolled"} 1.0' in metrics
    assert "jbloggs" not in metrics and "7578743843" not in metrics
    assert demo_gateway.get("/metrics")[0] == 404  # never on the internet-facing listener
