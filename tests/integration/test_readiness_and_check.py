"""Readiness against a real directory going down and coming back, and `check` naming each broken
part of a configuration against a real slapd (DESIGN §8)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway import cli
from gateway.app import build_gateway
from gateway.ops.readiness import READINESS_CACHE_SECONDS
from gateway.settings import StoreSettings

from .conftest import OpenLdapServer
from .gateway_under_test import openldap_settings


def test_readyz_follows_the_directory_down_and_up(openldap: OpenLdapServer, store_settings: StoreSettings) -> None:
    gateway = build_gateway(openldap_settings([openldap], store_settings))
    admin = TestClient(gateway.admin)
    assert admin.simulate_get("/readyz").json == {"status": "ready", "failed": []}
    with openldap.stopped():
        time.sleep(READINESS_CACHE_SECONDS)  # a result is kept that long
        down = admin.simulate_get("/readyz")
        assert (down.status_code, down.json) == (503, {"status": "not ready", "failed": ["directory server 1"]})
        assert "localhost" not in down.text and str(openldap.ldaps_port) not in down.text
        assert admin.simulate_get("/healthz").status_code == 200  # alive, just not ready
    time.sleep(READINESS_CACHE_SECONDS)
    assert admin.simulate_get("/readyz").status_code == 200


def test_readyz_names_servers_only_when_configured(openldap: OpenLdapServer, store_settings: StoreSettings) -> None:
    settings = openldap_settings([openldap], store_settings)
    settings = settings.model_copy(
        update={"admin": settings.admin.model_copy(update={"readiness_names_servers": True})}
    )
    admin = TestClient(build_gateway(settings).admin)
    with openldap.stopped():
        assert admin.simulate_get("/readyz").json["failed"] == [f"ldaps://localhost:{openldap.ldaps_port}"]


def write_config(path: Path, openldap: OpenLdapServer, store: StoreSettings, **overrides: str) -> Path:
    values = {
        "servers": f'["ldaps://localhost:{openldap.ldaps_port}"]',
        "ca_file": f'"{openldap.ca_cert}"',
        "base_dn": f'"{openldap.base_dn}"',
        "bind_dn": f'"{openldap.svc_dn}"',
        "bind_password": f'"{openldap.svc_pw}"',
        "connect_timeout": "2",
    }
    preset = overrides.pop("preset", "openldap")
    values.update(overrides)
    body = "\n".join(f"{key} = {value}" for key, value in values.items())
    path.write_text(
        f'[directory]\n{body}\n[mapping]\npreset = "{preset}"\n[store]\nurl = "{store.url.get_secret_value()}"\n'
    )
    return path


def run_check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, str]:
    code = cli.main(["check", "--config", str(config)])
    return code, capsys.readouterr().out


def test_check_passes_on_a_good_configuration(
    openldap: OpenLdapServer, store_settings: StoreSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_check(capsys, write_config(tmp_path / "good.toml", openldap, store_settings))
    assert code == 0, report
    for line in ("[  ok] directory schema", "[  ok] device store", "[  ok] safety valve", "TLS verified"):
        assert line in report


@pytest.mark.parametrize(
    ("overrides", "failing_line", "says"),
    [
        ({"preset": "asterisk"}, "[FAIL] directory schema", "does not define AstAccountName"),
        ({"bind_password": '"not-the-password"'}, "[FAIL] ldaps://localhost", "service account's DN or password"),
        ({"ca_file": '"/etc/ssl/certs/ca-certificates.crt"'}, "[FAIL] ldaps://localhost", "not trusted"),
        ({"base_dn": '"ou=nowhere,dc=example,dc=com"'}, "[FAIL] ldaps://localhost", "search base"),
    ],
    ids=["schema-attributes-missing", "wrong-service-password", "wrong-ca", "missing-base"],
)
def test_check_names_each_broken_part(
    openldap: OpenLdapServer,
    store_settings: StoreSettings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, str],
    failing_line: str,
    says: str,
) -> None:
    code, report = run_check(capsys, write_config(tmp_path / "broken.toml", openldap, store_settings, **overrides))
    assert code == 1
    line = next(line for line in report.splitlines() if line.startswith(failing_line))
    assert says in line, report
    assert openldap.svc_pw not in report
