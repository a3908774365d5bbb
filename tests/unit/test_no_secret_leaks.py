"""A whole session at DEBUG: passwords never appear in a log line, a response body or an
exception text; SIP secrets only in the answers that provision them (DESIGN §6)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway.app import build_directory, build_store, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.models import DirectoryUser
from gateway.settings import AttemptsSettings, SecuritySettings, Settings, StoreSettings

PASSWORDS = [
    "7578743843",
    "Sunflower-77",
    "Visitor-2026",
    "Leaver-2026",
    "Noline-2026",
    "Wr0ng-Guess!",
    "Old-Stale-Pass",
    "Outage-Pass-9",
    "Injected-Pass-7",
]
SIP_SECRETS = ["29de?8-jb", "7Hq!x2-as", "guest-secret-3", "leaver-secret-4"]
SERVICE_PASSWORD = "demo"  # the demo's service password is not a secret; real ones are tested in settings tests


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, bool]] = []

    def get(self, client: TestClient, **params: str) -> None:
        query = {"reprovision": "false", "deviceId": "phone", **params}
        response = client.simulate_get("/provisioning", params=query)
        assert response.status_code < 600
        provisioned = response.status_code == 200 and bool(response.json.get("sipaccounts"))
        self.bodies.append((response.text, provisioned))


class ExplodingDirectory:
    searches_before_bind = True

    def find_user(self, login: str) -> DirectoryUser | None:
        raise RuntimeError(f"bug while searching {login}")

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        raise RuntimeError(f"bug with {password}")

    def canary(self) -> bool:
        return True


def test_full_session_leaks_no_password_or_sip_secret(
    demo_ldif: Path, store_settings: StoreSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    factory = demo_factory(demo_ldif)
    settings = demo_settings(
        factory,
        store=store_settings,
        security=SecuritySettings(failure_floor_ms=0),
        attempts=AttemptsSettings(per_account="2/15 minutes", per_source=""),
    )
    client = TestClient(create_app(settings, directory=build_directory(settings, factory)))

    recorder.get(client, username="jbloggs", password="7578743843")  # enrolled
    recorder.get(client, username="jbloggs", password="7578743843", reprovision="true")  # unchanged
    recorder.get(client, username="asmith", password="Sunflower-77")  # two lines
    recorder.get(client, username="tguest", password="Visitor-2026")  # not entitled
    recorder.get(client, username="oleaver", password="Leaver-2026")  # locked
    recorder.get(client, username="nline", password="Noline-2026")  # no accounts
    recorder.get(client, username="nobody", password="Wr0ng-Guess!")  # unknown user
    for number in range(4):  # wrong passwords, then rate limited
        recorder.get(client, username="asmith", password="Wr0ng-Guess!", deviceId=f"other-{number}")
    recorder.get(client, username="jbloggs", password="Old-Stale-Pass", reprovision="true")  # sign in again
    recorder.get(client, username="jbloggs", password="Old-Stale-Pass", reprovision="true")  # repeated, no bind

    outage = Settings(
        directory={
            "servers": ["ldaps://127.0.0.1:1"],
            "base_dn": "dc=x",
            "bind_dn": "cn=svc,dc=x",  # type: ignore[arg-type]
            "bind_password": "Service-S3cret",
            "connect_timeout": 1,
        },
        store=store_settings,
    )
    recorder.get(TestClient(create_app(outage)), username="jbloggs", password="Outage-Pass-9")
    store_down = StoreSettings(url=SecretStr("postgresql+psycopg://u:Db-Pa55word@127.0.0.1:1/test"), timeout=1)
    down_settings = demo_settings(factory, store=store_down)
    down = create_app(
        down_settings,
        directory=build_directory(down_settings, factory),
        store=build_store(down_settings, check_schema=False),
    )
    recorder.get(TestClient(down), username="jbloggs", password="Outage-Pass-9")
    recorder.get(
        TestClient(create_app(settings, directory=ExplodingDirectory())),  # type: ignore[arg-type]
        username="jbloggs",
        password="Injected-Pass-7",
    )

    logs = caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for secret in [*PASSWORDS, "Service-S3cret", "Db-Pa55word"]:
        assert secret not in logs, secret
        assert not any(secret in body for body, _ in recorder.bodies), secret
    for secret in SIP_SECRETS:
        assert secret not in logs, secret
        assert not any(secret in body for body, provisioned in recorder.bodies if not provisioned), secret
    assert sum(provisioned for _, provisioned in recorder.bodies) == 2
    assert "internal error RuntimeError" in caplog.text
    assert "outcome=unavailable" in caplog.text
    assert "outcome=rate_limited" in caplog.text
