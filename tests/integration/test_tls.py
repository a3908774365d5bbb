"""TLS to the directory: verified or refused, never silently accepted (DESIGN §4).

LDAPS and StartTLS both verify the server's certificate against ``directory.ca_file`` and its
host name. A wrong CA or a name the certificate does not carry makes ``check`` fail with a clear
line, and provisioning answers "temporarily unavailable". Plain ``ldap://`` is refused by the
settings unless ``start_tls`` or ``allow_plain_ldap`` says otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from gateway import cli

from .gateway_under_test import UNAVAILABLE, PhoneFor, ad_lines, ad_settings, answer, openldap_lines, openldap_settings

if TYPE_CHECKING:
    from gateway.settings import Settings, StoreSettings

    from .conftest import OpenLdapServer, SambaServer

UNTRUSTED = "certificate verify failed"
UNTRUSTED_HINT = "-> the server's certificate is not trusted: set directory.ca_file to its CA"
WRONG_NAME_HINT = "-> the server's certificate does not name this host: use the name it was issued to"
# A name that reaches the loopback servers but is on neither certificate ("127.1" is 127.0.0.1
# to the resolver, and not an IP address to the certificate check).
UNCERTIFIED_HOST = "127.1"


def run_check(capsys: pytest.CaptureFixture[str], settings: Settings) -> tuple[int, list[str]]:
    """``python -m gateway check --config FILE`` for these settings; exit code and report lines."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "gateway.toml"
            config.write_text(to_toml(settings))
            code = cli.main(["check", "--config", str(config)])
    finally:  # the CLI logs to the (captured) stderr of this moment: not to later tests'
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "gateway_handler", False)]:
            root.removeHandler(handler)
    out, _ = capsys.readouterr()
    return code, out.splitlines()


def to_toml(settings: Settings) -> str:
    """The TOML file an admin would write for these settings (directory, mapping, store)."""
    d = settings.directory
    directory: dict[str, Any] = {
        "servers": list(d.servers),
        "base_dn": d.base_dn,
        "bind_dn": d.bind_dn,
        "bind_password": d.bind_password.get_secret_value(),
        "start_tls": d.start_tls,
        "allow_plain_ldap": d.allow_plain_ldap,
        "connect_timeout": d.connect_timeout,
        "receive_timeout": d.receive_timeout,
    }
    if d.ca_file is not None:
        directory["ca_file"] = str(d.ca_file)
    lines = ["[directory]", *(f"{key} = {json.dumps(value)}" for key, value in directory.items())]
    lines += ["[mapping]", f"preset = {json.dumps(settings.mapping.preset)}"]
    lines += ["[store]", f"url = {json.dumps(settings.store.url.get_secret_value())}"]
    return "\n".join(lines) + "\n"


def server_line(lines: list[str], url: str) -> str:
    found = [line for line in lines if f"] {url} " in line]
    assert len(found) == 1, lines
    return found[0]


# ---------------------------------------------------------------- verified TLS works


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_ad_signs_in_over_verified_tls(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, transport: str
) -> None:
    tls = {"servers": (f"ldap://localhost:{samba.port}",), "start_tls": True} if transport == "starttls" else {}
    phone = phone_for(ad_settings(samba, store_settings, **tls))
    body = phone.provision("alice", samba.password("alice"), reprovision=False)
    assert body == answer(True, accounts=ad_lines("1001", "s3cr3t-alice", "91001"))


@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_openldap_signs_in_over_verified_tls(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, transport: str
) -> None:
    tls = {"servers": (f"ldap://localhost:{openldap.port}",), "start_tls": True} if transport == "starttls" else {}
    phone = phone_for(openldap_settings([openldap], store_settings, **tls))
    body = phone.provision("alice", openldap.password("alice"), reprovision=False)
    assert body == answer(True, accounts=openldap_lines("1001", "s3cr3t-alice", "2001"))


def test_check_passes_against_both_servers_over_ldaps_and_starttls(
    samba: SambaServer, openldap: OpenLdapServer, store_settings: StoreSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    configurations = [
        ad_settings(samba, store_settings),
        ad_settings(samba, store_settings, servers=(f"ldap://localhost:{samba.port}",), start_tls=True),
        openldap_settings([openldap], store_settings),
        openldap_settings([openldap], store_settings, servers=(f"ldap://localhost:{openldap.port}",), start_tls=True),
    ]
    for settings in configurations:
        code, lines = run_check(capsys, settings)
        url = settings.directory.servers[0]
        assert code == 0, lines
        verified = r" +reachable, TLS verified, service account bind ok, search base found \(\d+ ms\)"
        assert re.fullmatch(r"\[  ok\] " + re.escape(url) + verified, server_line(lines, url)), lines
        assert lines[-1] == "all checks passed"


# ---------------------------------------------------------------- wrong CA, wrong name: refused


@pytest.fixture
def both(samba: SambaServer, openldap: OpenLdapServer) -> tuple[SambaServer, OpenLdapServer]:
    return samba, openldap


@dataclass(frozen=True)
class Misconfigured:
    """Settings a TLS check must refuse, and a login that works with the right settings."""

    settings: Settings
    username: str
    password: str


def misconfigured(case: str, samba: SambaServer, openldap: OpenLdapServer, store: StoreSettings) -> Misconfigured:
    """``<server>-<transport>-<fault>``: the other server's CA (a real CA, just not the one that
    signed this certificate), or a host name the certificate does not carry."""
    server, transport, fault = case.split("-")
    host = UNCERTIFIED_HOST if fault == "wrong_name" else "localhost"
    if server == "ad":
        port = samba.port if transport == "starttls" else samba.ldaps_port
        other_ca, build, password = openldap.ca_cert, ad_settings, samba.password("alice")
        settings = partial(build, samba, store)
    else:
        port = openldap.port if transport == "starttls" else openldap.ldaps_port
        other_ca, password = samba.ca_cert, openldap.password("alice")
        settings = partial(openldap_settings, [openldap], store)
    scheme = "ldap" if transport == "starttls" else "ldaps"
    overrides: dict[str, Any] = {"servers": (f"{scheme}://{host}:{port}",), "start_tls": transport == "starttls"}
    if fault == "wrong_ca":
        overrides["ca_file"] = other_ca
    return Misconfigured(settings(**overrides), "alice", password)


CASES = [
    f"{server}-{transport}-{fault}"
    for server in ("ad", "openldap")
    for transport in ("ldaps", "starttls")
    for fault in ("wrong_ca", "wrong_name")
]
EXPECTED = {
    "wrong_ca": (UNTRUSTED, UNTRUSTED_HINT),
    "wrong_name": (f"certificate verify failed: Hostname mismatch, certificate is not valid for '{UNCERTIFIED_HOST}'",
                   WRONG_NAME_HINT),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_unverifiable_tls_fails_check_clearly_and_provisioning_answers_unavailable(
    both: tuple[SambaServer, OpenLdapServer], store_settings: StoreSettings, phone_for: PhoneFor,
    capsys: pytest.CaptureFixture[str], case: str,
) -> None:  # fmt: skip
    refused = misconfigured(case, *both, store_settings)
    detail, hint = EXPECTED[case.rsplit("-", 1)[1]]
    code, lines = run_check(capsys, refused.settings)
    line = server_line(lines, refused.settings.directory.servers[0])
    assert code == 1
    assert line.startswith("[FAIL] ")
    assert detail in line
    assert line.endswith(hint)
    assert phone_for(refused.settings).provision(refused.username, refused.password, reprovision=False) == UNAVAILABLE


@pytest.mark.parametrize("server", ["ad", "openldap"])
def test_ldaps_to_an_ip_address_is_verified_against_the_certificates_ip_entry(
    both: tuple[SambaServer, OpenLdapServer], store_settings: StoreSettings, phone_for: PhoneFor, server: str
) -> None:
    # Both test certificates carry IP:127.0.0.1. (OpenSSL matches IP addresses itself, so this
    # also holds on Python 3.12+, where ldap3's own host-name check cannot match IPs.)
    samba, openldap = both
    if server == "ad":
        settings = ad_settings(samba, store_settings, servers=(f"ldaps://127.0.0.1:{samba.ldaps_port}",))
        expected = answer(True, accounts=ad_lines("1001", "s3cr3t-alice", "91001"))
        password = samba.password("alice")
    else:
        settings = openldap_settings([openldap], store_settings, servers=(f"ldaps://127.0.0.1:{openldap.ldaps_port}",))
        expected = answer(True, accounts=openldap_lines("1001", "s3cr3t-alice", "2001"))
        password = openldap.password("alice")
    assert phone_for(settings).provision("alice", password, reprovision=False) == expected


def test_ad_ip_address_not_on_the_certificate_is_refused(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, capsys: pytest.CaptureFixture[str]
) -> None:
    # Samba also listens on ::1; its certificate names 127.0.0.1 but not ::1.
    settings = ad_settings(samba, store_settings, servers=(f"ldaps://[::1]:{samba.ldaps_port}",))
    code, lines = run_check(capsys, settings)
    line = server_line(lines, settings.directory.servers[0])
    assert code == 1
    assert "certificate verify failed: IP address mismatch, certificate is not valid for '::1'" in line
    assert line.endswith(WRONG_NAME_HINT)
    assert phone_for(settings).provision("alice", samba.password("alice"), reprovision=False) == UNAVAILABLE


def test_without_ca_file_the_system_trust_store_refuses_the_test_ca(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = openldap_settings([openldap], store_settings, ca_file=None)
    code, lines = run_check(capsys, settings)
    assert code == 1
    assert server_line(lines, settings.directory.servers[0]).endswith(UNTRUSTED_HINT)
    assert phone_for(settings).provision("alice", "alicepw", reprovision=False) == UNAVAILABLE


def test_check_names_a_wrong_service_account_password(
    samba: SambaServer, openldap: OpenLdapServer, store_settings: StoreSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    for settings in (
        ad_settings(samba, store_settings, bind_password="Not-The-Password1"),
        openldap_settings([openldap], store_settings, bind_password="not-the-password"),
    ):
        code, lines = run_check(capsys, settings)
        line = server_line(lines, settings.directory.servers[0])
        assert code == 1
        assert line.endswith("invalidCredentials -> the service account's DN or password is wrong"), line
        assert "Not-The-Password1" not in "\n".join(lines) and "not-the-password" not in "\n".join(lines)


# ---------------------------------------------------------------- plain LDAP only when allowed


@pytest.mark.parametrize("server", ["ad", "openldap"])
def test_plain_ldap_url_is_refused_by_the_settings(
    samba: SambaServer, openldap: OpenLdapServer, store_settings: StoreSettings, server: str
) -> None:
    with pytest.raises(ValidationError, match=r"sends passwords in clear; use ldaps://, set start_tls = true"):
        if server == "ad":
            ad_settings(samba, store_settings, servers=(f"ldap://localhost:{samba.port}",))
        else:
            openldap_settings([openldap], store_settings, servers=(f"ldap://localhost:{openldap.port}",))


def test_plain_ldap_works_only_when_allowed_explicitly(
    samba: SambaServer, openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    ad = ad_settings(samba, store_settings, servers=(f"ldap://localhost:{samba.port}",), allow_plain_ldap=True)
    body = phone_for(ad).provision("alice", samba.password("alice"), reprovision=False)
    assert body == answer(True, accounts=ad_lines("1001", "s3cr3t-alice", "91001"))
    ol = openldap_settings(
        [openldap], store_settings, servers=(f"ldap://localhost:{openldap.port}",), allow_plain_ldap=True
    )
    body = phone_for(ol).provision("alice", openldap.password("alice"), reprovision=False)
    assert body == answer(True, accounts=openldap_lines("1001", "s3cr3t-alice", "2001"))
