"""The operations listener (health, readiness, metrics), structured logs, and secrets from the
OS credential store (DESIGN §2, §8)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import keyring
import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway import cli
from gateway.app import Gateway, build_directory, build_gateway
from gateway.demo.settings import demo_factory, demo_settings
from gateway.ops.logs import configure_logging
from gateway.settings import AttemptsSettings, LoggingSettings, SecuritySettings, StoreSettings, load_settings

SECRETS = ["7578743843", "Sunflower-77", "Wrong-Pass-1", "29de?8-jb", "7Hq!x2-as"]


def demo_gateway(demo_ldif: Path, store: StoreSettings) -> Gateway:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(
        factory,
        store=store,
        security=SecuritySettings(failure_floor_ms=0),
        attempts=AttemptsSettings(per_account="2/15 minutes", per_source=""),
    )
    return build_gateway(settings, connections=factory, directory=build_directory(settings, factory))


def scripted_session(client: TestClient) -> None:
    def call(username: str, password: str, device: str, reprovision: str = "false") -> None:
        client.simulate_get(
            "/provisioning",
            params={"username": username, "password": password, "reprovision": reprovision, "deviceId": device},
        )

    call("jbloggs", "7578743843", "phone-1")  # enrolled (bind ok)
    call("jbloggs", "7578743843", "phone-1", "true")  # unchanged (bind ok)
    call("asmith", "Sunflower-77", "phone-2")  # enrolled
    call("jbloggs", "Wrong-Pass-1", "phone-1", "true")  # bind refused, signed out (password)
    call("jbloggs", "Wrong-Pass-1", "phone-1", "true")  # same password again: no bind
    call("tguest", "Visitor-2026", "phone-3")  # not entitled: no bind
    for n in range(3):  # the third is rate limited
        call("nobody", "Wrong-Pass-1", f"x{n}")


@pytest.fixture
def gateway(demo_ldif: Path, store_settings: StoreSettings) -> Gateway:
    return demo_gateway(demo_ldif, store_settings)


def test_healthz_and_readyz_when_all_is_well(gateway: Gateway) -> None:
    admin = TestClient(gateway.admin)
    assert admin.simulate_get("/healthz").json == {"status": "alive"}
    ready = admin.simulate_get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready", "failed": []})


def test_readyz_is_503_with_a_short_reason_when_the_store_is_down(demo_ldif: Path) -> None:
    store = StoreSettings(url=SecretStr("postgresql+psycopg://u:Db-Pa55@127.0.0.1:1/test"), timeout=1)
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=store)
    from gateway.app import build_store

    gateway = build_gateway(
        settings,
        connections=factory,
        directory=build_directory(settings, factory),
        store=build_store(settings, check_schema=False),
    )
    ready = TestClient(gateway.admin).simulate_get("/readyz")
    assert (ready.status_code, ready.json) == (503, {"status": "not ready", "failed": ["device store"]})
    assert "127.0.0.1" not in ready.text and "Db-Pa55" not in ready.text


def test_metrics_after_a_scripted_session(gateway: Gateway) -> None:
    scripted_session(TestClient(gateway.app))
    text = TestClient(gateway.admin).simulate_get("/metrics").text
    expected = [
        'gateway_requests_total{outcome="enrolled"} 2.0',
        'gateway_requests_total{outcome="unchanged"} 1.0',
        'gateway_requests_total{outcome="sign_in_again"} 1.0',
        'gateway_requests_total{outcome="login_failed"} 4.0',
        'gateway_requests_total{outcome="rate_limited"} 1.0',
        'gateway_binds_total{result="ok"} 3.0',
        'gateway_binds_total{result="refused"} 1.0',
        'gateway_binds_avoided_total{reason="repeated_password"} 1.0',
        'gateway_binds_avoided_total{reason="refused_before_bind"} 3.0',  # not entitled, 2 unknown
        'gateway_binds_avoided_total{reason="rate_limited"} 1.0',  # the third unknown
        'gateway_sign_outs_total{reason="password"} 1.0',
        "gateway_rate_limited_total 1.0",
        "gateway_request_seconds_count 9.0",
        'gateway_directory_seconds_count{operation="search"} 8.0',  # the rate-limited call asks no directory
        'gateway_store_seconds_count{operation="write"}',
    ]
    for line in expected:
        assert line in text, line
    for private in ["jbloggs", "asmith", "phone-1", "x0", *SECRETS]:
        assert private not in text


def test_public_listener_serves_only_provisioning(gateway: Gateway) -> None:
    public = TestClient(gateway.app)
    for path in ("/metrics", "/healthz", "/readyz"):
        assert public.simulate_get(path).status_code == 404
    assert TestClient(gateway.admin).simulate_get("/provisioning").status_code == 404


def test_json_log_lines_carry_the_request_fields_and_no_secret(gateway: Gateway) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="json"), stream)
    try:
        scripted_session(TestClient(gateway.app))
    finally:
        configure_logging(LoggingSettings(level="WARNING"), io.StringIO())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line["logger"] == "gateway.requests"]
    assert len(requests) == 9
    assert set(requests[0]) >= {"time", "level", "request_id", "outcome", "user", "device_id", "duration_ms", "source"}
    assert [r["outcome"] for r in requests][:4] == ["enrolled", "unchanged", "enrolled", "sign_in_again"]
    assert (requests[0]["user"], requests[0]["device_id"], requests[0]["source"]) == ("jbloggs", "phone-1", "127.0.0.1")
    assert len({r["request_id"] for r in requests}) == 9
    for secret in SECRETS:
        assert secret not in stream.getvalue()


def test_library_loggers_go_through_the_same_handler() -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="json"), stream)
    try:
        logging.getLogger("waitress").info("serving")
    finally:
        configure_logging(LoggingSettings(level="WARNING"), io.StringIO())
    assert json.loads(stream.getvalue())["logger"] == "waitress"


GOOD = """
[directory]
servers = ["ldaps://dc1.corp.example"]
base_dn = "DC=corp,DC=example"
bind_dn = "CN=svc,DC=corp,DC=example"
"""


def test_bind_password_from_the_os_credential_store(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(GOOD)
    keyring.set_password("sessiontalk-gateway", "directory.bind_password", "From-The-Keyring-1")
    keyring.set_password("sessiontalk-gateway", "store.fingerprint_key", "fp-key-from-keyring")
    settings = load_settings(config, {})
    assert settings.directory.bind_password.get_secret_value() == "From-The-Keyring-1"
    assert settings.store.fingerprint_key.get_secret_value() == "fp-key-from-keyring"


def test_environment_and_file_win_over_the_credential_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(GOOD + 'bind_password = "From-The-File-1"\n')
    keyring.set_password("sessiontalk-gateway", "directory.bind_password", "From-The-Keyring-1")
    assert load_settings(config, {}).directory.bind_password.get_secret_value() == "From-The-File-1"
    monkeypatch.setenv("GATEWAY_DIRECTORY__BIND_PASSWORD", "From-The-Env-1")
    assert load_settings(config, {}).directory.bind_password.get_secret_value() == "From-The-Env-1"


def test_missing_secret_still_lists_the_problem_without_a_credential_store(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(GOOD)
    with pytest.raises(Exception, match="bind_password: required in search mode"):
        load_settings(config, {})


def test_secrets_set_command_stores_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Typed-Secret-9\n"))
    assert cli.main(["secrets", "set", "directory.bind_password", "--stdin"]) == 0
    assert keyring.get_password("sessiontalk-gateway", "directory.bind_password") == "Typed-Secret-9"
    assert "Typed-Secret-9" not in capsys.readouterr().out
    assert cli.main(["secrets", "delete", "directory.bind_password"]) == 0
    assert keyring.get_password("sessiontalk-gateway", "directory.bind_password") is None
