"""The Asterisk and FreeIPA presets, proven against a real slapd through the gateway's own code.

One private slapd (``slapd_extra``) carries two trees: people with Asterisk's ``AsteriskSIPUser``
attributes (the schema shipped in ``schema/ldap/asterisk.ldif``), and a ``cn=accounts`` tree
shaped like FreeIPA's (``uid``, ``krbPrincipalName``, ``ipaUniqueID``, ``nsAccountLock``,
``memberOf``; FreeIPA itself cannot be installed here). Each preset maps a realistic entry
exactly, over LDAP search + bind, the mapper, and the HTTP answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, connection_factory, create_app
from gateway.directory.ldap import LdapDirectory
from gateway.mapping.mapper import map_accounts
from gateway.settings import Settings, StoreSettings

from . import slapd_extra

pytestmark = pytest.mark.slapd

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "ldap"
SUFFIX = "dc=example,dc=test"
SERVICE_DN = f"uid=gateway,cn=sysaccounts,cn=etc,{SUFFIX}"
SERVICE_PW = "gateway-pw"
ASTERISK_PEOPLE = f"ou=people,{SUFFIX}"
IPA_USERS = f"cn=users,cn=accounts,{SUFFIX}"
RECEPTION = f"cn=reception,ou=groups,{SUFFIX}"
HELPDESK = f"cn=helpdesk,cn=groups,cn=accounts,{SUFFIX}"

JBLOGGS_ASTERISK_LINE = {
    "sipusername": "1001",
    "sippassword": "29de?8",
    "transport": "TLS",
    "authusername": "1001",
    "video": "Enabled",
}
ASMITH_IPA_LINES = [
    {"sipusername": "2001", "sippassword": "ipa-s3cret?as", "transport": "TLS", "authusername": "2001"},
    {"sipusername": "2100", "sippassword": "ipa-s3cret?as", "transport": "TLS", "authusername": "2100"},
]


def _entries() -> str:
    def person(dn: str, classes: list[str], attributes: dict[str, str | list[str]], password: str) -> str:
        lines = [f"dn: {dn}", *(f"objectClass: {name}" for name in classes)]
        for name, value in attributes.items():
            lines.extend(f"{name}: {item}" for item in ([value] if isinstance(value, str) else value))
        lines.append(f"userPassword: {slapd_extra.hashed(password)}")
        return "\n".join(lines)

    # FreeIPA's containers are 389's nsContainer; organizationalRole is slapd's nearest plain "cn" class.
    containers = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
        f"dn: {ASTERISK_PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
        *(
            f"dn: {dn}\nobjectClass: organizationalRole\ncn: {dn.split(',')[0].removeprefix('cn=')}"
            for dn in (
                f"cn=accounts,{SUFFIX}",
                IPA_USERS,
                f"cn=groups,cn=accounts,{SUFFIX}",
                f"cn=etc,{SUFFIX}",
                f"cn=sysaccounts,cn=etc,{SUFFIX}",
            )
        ),
        f"dn: {SERVICE_DN}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: gateway\n"
        f"userPassword: {slapd_extra.hashed(SERVICE_PW)}",
    ]
    asterisk = [
        person(
            f"uid=jbloggs,{ASTERISK_PEOPLE}",
            ["inetOrgPerson", "AsteriskSIPUser"],
            {
                "uid": "jbloggs",
                "cn": "Joe Bloggs",
                "sn": "Bloggs",
                "givenName": "Joe",
                "mail": "joe.bloggs@example.test",
                "telephoneNumber": "+44 20 7946 0123 x1001",
                "AstAccountName": "1001",
                "AstAccountSecret": "29de?8",
                "AstAccountTransport": "tls,udp",
                "AstAccountVideoSupport": "always",
                "AstAccountCallerID": '"Joe Bloggs" <1001>',
                "AstAccountContext": "internal",
                "AstAccountHost": "dynamic",
                "AstAccountRealmedPassword": "{md5}0c4e7a6c6b5ee4b7a3f0f8b2a1d4c9e1",
            },
            "Joe-Pass1",
        ),
        person(
            f"uid=mdigest,{ASTERISK_PEOPLE}",
            ["inetOrgPerson", "AsteriskSIPUser"],
            {
                "uid": "mdigest",
                "cn": "Max Digest",
                "sn": "Digest",
                "AstAccountName": "1002",
                "AstAccountRealmedPassword": "{md5}5d41402abc4b2a76b9719d911017c592",
            },
            "Max-Pass1",
        ),
        f"dn: {RECEPTION}\nobjectClass: groupOfNames\ncn: reception\nmember: uid=jbloggs,{ASTERISK_PEOPLE}",
    ]
    ipa_classes = ["inetOrgPerson", "posixAccount", "krbPrincipalAux", "ipaObject", "nsAccountLockable", "sipAccount"]
    freeipa = [
        person(
            f"uid=asmith,{IPA_USERS}",
            ipa_classes,
            {
                "uid": "asmith",
                "cn": "Alice Smith",
                "sn": "Smith",
                "givenName": "Alice",
                "displayName": "Alice Smith",
                "mail": "asmith@example.test",
                "uidNumber": "1200001",
                "gidNumber": "1200001",
                "homeDirectory": "/home/asmith",
                "loginShell": "/bin/bash",
                "krbPrincipalName": "asmith@EXAMPLE.TEST",
                "ipaUniqueID": "6d1c4f2e-8b0a-11ef-9a3b-525400c0ffee",
                "sipExtension": "2001",
                "sipOtherExtension": "2100",
                "sipSecret": "ipa-s3cret?as",
            },
            "Alice-Pass1",
        ),
        person(
            f"uid=bgone,{IPA_USERS}",
            ipa_classes,
            {
                "uid": "bgone",
                "cn": "Bob Gone",
                "sn": "Gone",
                "uidNumber": "1200002",
                "gidNumber": "1200002",
                "homeDirectory": "/home/bgone",
                "krbPrincipalName": "bgone@EXAMPLE.TEST",
                "ipaUniqueID": "6d1c4f2e-8b0a-11ef-9a3b-525400c0ff01",
                "nsAccountLock": "TRUE",
                "sipExtension": "2002",
                "sipSecret": "ipa-s3cret?bg",
            },
            "Bob-Pass1",
        ),
        f"dn: cn=ipausers,cn=groups,cn=accounts,{SUFFIX}\nobjectClass: groupOfNames\nobjectClass: ipaObject\n"
        f"cn: ipausers\nmember: uid=asmith,{IPA_USERS}\nmember: uid=bgone,{IPA_USERS}",
        f"dn: {HELPDESK}\nobjectClass: groupOfNames\ncn: helpdesk\nmember: uid=asmith,{IPA_USERS}",
    ]
    return "\n\n".join([*containers, *asterisk, *freeipa]) + "\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slapd_extra.Slapd]:
    """One slapd with Asterisk's schema, the sipAccount schema and FreeIPA-shaped stand-ins."""
    missing = slapd_extra.missing_commands()
    if missing:
        pytest.skip(f"real-slapd tests need {', '.join(missing)} (Debian packages slapd, ldap-utils)")
    workdir = tmp_path_factory.mktemp("slapd-presets")
    extra = workdir / "freeipa-shaped.ldif"
    extra.write_text(slapd_extra.FREEIPA_SHAPED_SCHEMA)
    server, process = slapd_extra.start(
        workdir,
        suffix=SUFFIX,
        schemas=[SCHEMA_DIR / "asterisk.ldif", SCHEMA_DIR / "sipaccount.ldif", extra],
        secret_readers={"AstAccountSecret": SERVICE_DN, "sipSecret": SERVICE_DN},
    )
    try:
        slapd_extra.add_entries(server, _entries())
        yield server
    finally:
        slapd_extra.stop(process)


def settings(lab: slapd_extra.Slapd, store: StoreSettings, base_dn: str, **mapping: object) -> Settings:
    directory = {
        "servers": (lab.url,),
        "allow_plain_ldap": True,
        "base_dn": base_dn,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PW,
    }
    return Settings(directory=directory, mapping=mapping, store=store)  # type: ignore[arg-type]


@contextmanager
def directory_for(config: Settings) -> Iterator[LdapDirectory]:
    """The gateway's LDAP directory for ``config``; its pooled connections are closed afterwards."""
    connections = connection_factory(config)
    try:
        yield build_directory(config, connections)
    finally:
        connections.discard("service")  # this thread's pooled connections (TestClient runs here too)
        connections.discard("user")


def provision(config: Settings, username: str, password: str) -> dict[str, object]:
    """One provisioning call through the whole gateway (HTTP edge, service, LDAP, mapper)."""
    with directory_for(config) as directory:
        client = TestClient(create_app(config, directory=directory))
        query = {"username": username, "password": password, "reprovision": "false", "deviceId": "dev-1"}
        response = client.simulate_get("/provisioning", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json
    return body


# ---------------------------------------------------------------- Asterisk


def test_asterisk_preset_maps_a_sip_user_entry_exactly(lab: slapd_extra.Slapd, store_settings: StoreSettings) -> None:
    body = provision(settings(lab, store_settings, ASTERISK_PEOPLE, preset="asterisk"), "jbloggs", "Joe-Pass1")
    assert body == {"update": True, "sipaccounts": [JBLOGGS_ASTERISK_LINE], "errmsg": ""}


def test_asterisk_search_returns_every_attribute_the_preset_reads(
    lab: slapd_extra.Slapd, store_settings: StoreSettings
) -> None:
    config = settings(lab, store_settings, ASTERISK_PEOPLE, preset="asterisk")
    with directory_for(config) as directory:
        user = directory.find_user("jbloggs")
    assert user is not None
    read = {name: user.attributes.get(name) for name in sorted(config.mapping.attribute_schema.attributes())}
    assert read == {
        "AstAccountName": ("1001",),
        "AstAccountSecret": ("29de?8",),
        "AstAccountTransport": ("tls,udp",),
        "AstAccountVideoSupport": ("always",),
    }
    assert map_accounts(user, config.mapping.attribute_schema).accounts[0].to_json() == JBLOGGS_ASTERISK_LINE


def test_asterisk_user_with_only_an_md5_secret_gets_no_line_and_the_log_names_the_attribute(
    lab: slapd_extra.Slapd, store_settings: StoreSettings, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(lab, store_settings, ASTERISK_PEOPLE, preset="asterisk")
    with caplog.at_level(logging.WARNING):
        body = provision(config, "mdigest", "Max-Pass1")
    assert body == {"update": False, "sipaccounts": [], "errmsg": config.messages.no_accounts}
    assert "account 1 (own-line): sippassword: attribute AstAccountSecret has no value" in caplog.text


def test_site_file_over_asterisk_grants_the_reception_line_to_group_members(
    lab: slapd_extra.Slapd, store_settings: StoreSettings, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        f"""
base = "asterisk"

[[accounts]]
id = "reception"
granted_by = "{RECEPTION}"
sipusername = "2000"
sippassword = {{ template = "{{AstAccountSecret}}-rcp" }}
transport = "UDP"
"""
    )
    body = provision(settings(lab, store_settings, ASTERISK_PEOPLE, file=site), "jbloggs", "Joe-Pass1")
    reception = {"sipusername": "2000", "sippassword": "29de?8-rcp", "transport": "UDP"}
    assert body["sipaccounts"] == [JBLOGGS_ASTERISK_LINE, reception]


# ---------------------------------------------------------------- FreeIPA-shaped entries


@pytest.mark.parametrize("login", ["asmith", "asmith@EXAMPLE.TEST", "asmith@example.test"])
def test_freeipa_preset_maps_a_user_entry_exactly_for_every_login_form(
    lab: slapd_extra.Slapd, store_settings: StoreSettings, login: str
) -> None:
    body = provision(settings(lab, store_settings, IPA_USERS, preset="freeipa"), login, "Alice-Pass1")
    assert body == {"update": True, "sipaccounts": ASMITH_IPA_LINES, "errmsg": ""}


def test_freeipa_user_key_is_ipa_unique_id_and_groups_come_from_member_of(
    lab: slapd_extra.Slapd, store_settings: StoreSettings
) -> None:
    config = settings(lab, store_settings, IPA_USERS, preset="freeipa")
    with directory_for(config) as directory:
        user = directory.find_user("asmith")
    assert user is not None
    assert user.key == "6d1c4f2e-8b0a-11ef-9a3b-525400c0ffee"
    assert user.is_member_of(f"cn=ipausers,cn=groups,cn=accounts,{SUFFIX}")
    assert user.is_member_of(HELPDESK)


def test_freeipa_disabled_user_is_not_found_so_the_phone_gets_the_generic_answer(
    lab: slapd_extra.Slapd, store_settings: StoreSettings
) -> None:
    config = settings(lab, store_settings, IPA_USERS, preset="freeipa")
    with directory_for(config) as directory:
        assert directory.find_user("bgone") is None
    body = provision(config, "bgone", "Bob-Pass1")
    assert body == {"update": False, "sipaccounts": [], "errmsg": config.messages.login_failed}


def test_site_file_over_freeipa_adds_a_helpdesk_line_that_inherits_the_preset_transport(
    lab: slapd_extra.Slapd, store_settings: StoreSettings, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        f"""
base = "freeipa"

[[accounts]]
id = "extra-lines"
enabled = false

[[accounts]]
id = "helpdesk"
granted_by = "{HELPDESK}"
sipusername = {{ template = "hd-{{sipExtension}}" }}
sippassword = {{ attribute = "sipSecret" }}
"""
    )
    body = provision(settings(lab, store_settings, IPA_USERS, file=site), "asmith", "Alice-Pass1")
    helpdesk = {"sipusername": "hd-2001", "sippassword": "ipa-s3cret?as", "transport": "TLS"}
    assert body["sipaccounts"] == [ASMITH_IPA_LINES[0], helpdesk]
