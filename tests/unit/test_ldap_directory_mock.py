"""LdapDirectory's search-then-bind logic over ldap3's MOCK_SYNC strategy (fast tier).

The mock cannot evaluate AD's matching rules, UPN binds or bind sub-codes: those are proven
against the real Samba AD DC in tests/integration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.directory.demo import DemoConnectionFactory
from gateway.directory.entry import EntryReader
from gateway.directory.ldap import DirectoryConfig, LdapDirectory
from gateway.errors import InvalidCredentials
from gateway.mapping.presets import load_schema
from gateway.settings import DirectorySettings

AD_LDIF = """
dn: DC=corp,DC=example
objectClass: domain
dc: corp

dn: CN=Joe Bloggs,OU=Staff,DC=corp,DC=example
objectClass: user
objectCategory: person
cn: Joe Bloggs
sAMAccountName: jbloggs
userPrincipalName: jbloggs@corp.example
userAccountControl: 512
pwdLastSet: 133700000000000000
ipPhone: 1001
otherIpPhone: 2000
msDS-cloudExtensionAttribute1: ad-secret
memberOf: CN=Phone Users,OU=Groups,DC=corp,DC=example
userPassword: Joe-Pass1

dn: CN=Carol Clark,OU=Staff,DC=corp,DC=example
objectClass: user
objectCategory: person
cn: Carol Clark
sAMAccountName: carol
userAccountControl: 514
msDS-User-Account-Control-Computed: 16
ipPhone: 1003
userPassword: Carol-Pass1

dn: CN=Dup One,OU=Staff,DC=corp,DC=example
objectClass: user
objectCategory: person
sAMAccountName: dup

dn: CN=Dup Two,OU=Staff,DC=corp,DC=example
objectClass: user
objectCategory: person
sAMAccountName: dup
"""


@pytest.fixture
def directory(tmp_path: Path) -> LdapDirectory:
    path = tmp_path / "ad.ldif"
    path.write_text(AD_LDIF)
    settings = DirectorySettings(
        servers=("ldaps://dc",),
        base_dn="DC=corp,DC=example",
        bind_dn="cn=svc",
        bind_password="x",  # type: ignore[arg-type]
        netbios_domain="CORP",
        group_membership="member-of",
    )
    config = DirectoryConfig.from_settings(settings, load_schema(preset="active-directory"))
    return LdapDirectory(config, DemoConnectionFactory(path), now=lambda: datetime(2026, 11, 26, tzinfo=UTC))


def test_search_returns_every_attribute_the_schema_needs_in_one_entry(directory: LdapDirectory) -> None:
    user = directory.find_user("jbloggs")
    assert user is not None
    assert user.dn == "CN=Joe Bloggs,OU=Staff,DC=corp,DC=example"
    assert user.attributes.get("otherIpPhone") == ("2000",)
    assert user.attributes.first("msDS-cloudExtensionAttribute1") == "ad-secret"
    assert user.password_changed_at == "133700000000000000"
    assert user.is_member_of("cn=phone users,ou=groups,dc=corp,dc=example")
    assert not user.state.disabled


@pytest.mark.parametrize("login", ["jbloggs", "jbloggs@corp.example", "CORP\\jbloggs"])
def test_every_login_form_finds_the_same_user(directory: LdapDirectory, login: str) -> None:
    user = directory.find_user(login)
    assert user is not None and user.dn.startswith("CN=Joe Bloggs")


def test_unknown_and_ambiguous_logins_find_nobody(directory: LdapDirectory) -> None:
    assert directory.find_user("nobody") is None
    assert directory.find_user("dup") is None
    assert directory.find_user("OTHER\\jbloggs") is None


def test_account_state_comes_from_the_search(directory: LdapDirectory) -> None:
    carol = directory.find_user("carol")
    assert carol is not None
    assert carol.state.disabled and carol.state.locked


def test_bind_as_found_dn(directory: LdapDirectory) -> None:
    user = directory.find_user("jbloggs")
    assert directory.verify_password("jbloggs", "Joe-Pass1", user) == user
    with pytest.raises(InvalidCredentials):
        directory.verify_password("jbloggs", "wrong", user)


def test_empty_password_is_refused_before_any_bind(directory: LdapDirectory) -> None:
    with pytest.raises(InvalidCredentials, match="empty password"):
        directory.verify_password("jbloggs", "  ", directory.find_user("jbloggs"))


def test_binary_object_guid_becomes_the_user_key() -> None:
    reader = EntryReader(flavour="active-directory", user_key="objectGUID")
    raw = bytes.fromhex("78563412341278569abcdef012345678")
    user = reader.read("CN=x", {"objectGUID": [raw], "cn": [b"x"]}, frozenset(), datetime.now(UTC))
    assert user.key == "12345678-1234-5678-9abc-def012345678"


def test_missing_key_attribute_falls_back_to_the_dn() -> None:
    reader = EntryReader(flavour="openldap", user_key="entryUUID")
    user = reader.read("uid=A,dc=X", {"cn": [b"a"]}, None, datetime.now(UTC), "memberOf")
    assert user.key == "uid=a,dc=x"
