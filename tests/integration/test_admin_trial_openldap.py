"""An admin's trial, configured from docs/openldap.md alone, against a directory shaped unlike the
fixtures: a base DN with a space, entries loaded with plain ``ldapadd`` (no ppolicy, so no
``pwdChangedTime`` at all: the shield has no marker to read), logins by mail, a non-ASCII name
and password, several phones per user — driven over HTTP against a real ``serve`` process.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway

from . import slapd_extra

SUFFIX = "o=Acme Corp,dc=example"
SERVICE_DN = f"cn=sessiontalk gateway,ou=Service Accounts,{SUFFIX}"
SERVICE_PW = "Gateway-Svc-Pw1"
GROUP_DN = f"cn=Phone Users,ou=Groups,{SUFFIX}"
USER_DN = f"uid=zoe,ou=People,{SUFFIX}"
MAIL = "zoe.astrom@acme.example"  # mail is IA5 (ASCII) in the standard schema
PASSWORD = "Pässwörd-ß1 ünd Leerzeichen"
NEW_PASSWORD = "Nöues-Pässwort-€2"
PHONES = ("zoe-iphone", "zoe-ipad", "zoe-android")
SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "ldap" / "sipaccount.ldif"


def entries() -> str:
    """What an admin loads with ldapadd: plain entries, nothing operational set by hand."""
    return f"""\
dn: {SUFFIX}
objectClass: organization
o: Acme Corp

dn: ou=Service Accounts,{SUFFIX}
objectClass: organizationalUnit
ou: Service Accounts

dn: ou=People,{SUFFIX}
objectClass: organizationalUnit
ou: People

dn: ou=Groups,{SUFFIX}
objectClass: organizationalUnit
ou: Groups

dn: {SERVICE_DN}
objectClass: inetOrgPerson
cn: sessiontalk gateway
sn: gateway
userPassword: {slapd_extra.hashed(SERVICE_PW)}

dn: {USER_DN}
objectClass: inetOrgPerson
objectClass: sipAccount
uid: zoe
cn:: {_b64("Zoë Åström")}
sn:: {_b64("Åström")}
mail: {MAIL}
userPassword: {slapd_extra.hashed(PASSWORD)}
sipExtension: 2001
sipOtherExtension: 2002
sipSecret: zoe-sip-secret

dn: {GROUP_DN}
objectClass: groupOfNames
cn: Phone Users
member: {USER_DN}
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slapd_extra.Slapd]:
    missing = slapd_extra.missing_commands()
    if missing:
        pytest.skip(f"real-slapd tests need {', '.join(missing)} (Debian packages slapd, ldap-utils)")
    workdir = tmp_path_factory.mktemp("slapd-acme")
    server, process = slapd_extra.start(
        workdir, suffix=SUFFIX, schemas=[SCHEMA], secret_readers={"sipSecret": SERVICE_DN}
    )
    try:
        slapd_extra.add_entries(server, entries())
        yield server
    finally:
        slapd_extra.stop(process)


def config_as_the_guide_says(acme: slapd_extra.Slapd, folder: Path) -> Path:
    """docs/openldap.md §5, with this directory's names (plain LDAP on loopback: allowed by name)."""
    config = folder / "gateway.toml"
    config.write_text(
        f"""\
[directory]
servers = ["{acme.url}"]
allow_plain_ldap = true
base_dn = "{SUFFIX}"
bind_dn = "{SERVICE_DN}"
required_groups = ["{GROUP_DN}"]

[mapping]
preset = "openldap"

[store]
sqlite_path = "{folder / "devices.sqlite3"}"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def gateway(acme: slapd_extra.Slapd, tmp_path: Path) -> Iterator[RunningGateway]:
    config = config_as_the_guide_says(acme, tmp_path)
    env = {"GATEWAY_DIRECTORY__BIND_PASSWORD": SERVICE_PW}
    migrated = subprocess.run(
        [sys.executable, "-m", "gateway", "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        env=_env(env),
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    running = start_gateway(["--config", str(config)], tmp_path / "gateway.log", env=env)
    try:
        yield running
    finally:
        stop_gateway(running)


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **extra}


def call(gateway: RunningGateway, username: str, password: str, device: str, reprovision: bool) -> dict[str, Any]:
    query = urllib.parse.urlencode(
        {"username": username, "password": password, "reprovision": str(reprovision).lower(), "deviceId": device}
    )
    status, _, raw = gateway.get(f"/provisioning?{query}")
    assert status == 200, raw
    body: dict[str, Any] = json.loads(raw)
    return body


def test_an_admin_trial_by_mail_with_non_ascii_names_and_several_phones(
    acme: slapd_extra.Slapd, gateway: RunningGateway
) -> None:
    lines = [
        {"sipusername": e, "authusername": e, "sippassword": "zoe-sip-secret", "transport": "TLS"}
        for e in ("2001", "2002")
    ]
    for phone in PHONES:  # each phone enrols with the mail address, typed in another case
        assert call(gateway, MAIL.upper(), PASSWORD, phone, reprovision=False) == {
            "update": True,
            "sipaccounts": lines,
            "errmsg": "",
        }
    for phone in PHONES:
        assert call(gateway, MAIL, PASSWORD, phone, reprovision=True) == {
            "update": False,
            "sipaccounts": [],
            "errmsg": "",
        }

    # Zoë changes her password as any OpenLDAP user would; this directory shows no marker.
    subprocess.run(
        ["ldappasswd", "-x", "-H", acme.url, "-D", USER_DN, "-w", PASSWORD, "-s", NEW_PASSWORD],
        capture_output=True,
        check=True,
    )
    answers = [call(gateway, MAIL, PASSWORD, phone, reprovision=True) for phone in PHONES]
    assert [a["update"] for a in answers] == [True] * 3 and all(a["sipaccounts"] == [] for a in answers)
    assert len({a["errmsg"] for a in answers}) == 1 and "sign in again" in answers[0]["errmsg"]
    # The stale answers cost no attempts: the new password works at once on every phone.
    for phone in PHONES:
        assert call(gateway, MAIL, NEW_PASSWORD, phone, reprovision=False)["sipaccounts"] == lines
    with urllib.request.urlopen(f"{gateway.admin_url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'gateway_binds_total{result="refused"} 1.0' in metrics  # one failed bind for three phones
    log = gateway.log()
    assert PASSWORD not in log and NEW_PASSWORD not in log and "zoe-sip-secret" not in log
