"""Presets and schema files are validated at start-up, with every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.mapping.mapper import map_accounts
from gateway.mapping.presets import load_schema, preset_names
from gateway.models import AttributeValues, DirectoryUser, normalize_dn

PRESETS = ["active-directory", "asterisk", "freeipa", "openldap"]


@pytest.mark.parametrize("name", PRESETS)
def test_shipped_presets_are_valid(name: str) -> None:
    schema = load_schema(preset=name)
    assert schema.accounts


def test_presets_are_listed() -> None:
    assert preset_names() == PRESETS


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_schema(preset="exchange")
    assert caught.value.problems == [f"preset: unknown preset 'exchange' (known: {', '.join(PRESETS)})"]


def entry(groups: tuple[str, ...] = (), /, **attributes: str | list[str]) -> DirectoryUser:
    values = {name: value if isinstance(value, list) else [value] for name, value in attributes.items()}
    return DirectoryUser("uid=x", "k", AttributeValues(values), frozenset(normalize_dn(g) for g in groups))


# Realistic entries as each directory returns them to the service account's search.
REALISTIC = {
    "active-directory": (
        entry(
            ("CN=Phone Users,OU=Groups,DC=corp,DC=example",),
            sAMAccountName="jbloggs",
            userPrincipalName="jbloggs@corp.example",
            displayName="Joe Bloggs",
            telephoneNumber="+44 20 7946 0123 x1001",
            ipPhone="1001",
            otherIpPhone=["2000", "2001"],
            **{"msDS-cloudExtensionAttribute1": "29de?8"},
        ),
        [
            {
                "sipusername": "1001",
                "sippassword": "29de?8",
                "transport": "TLS",
                "authusername": "1001",
                "srtp": "Enabled",
            },
            {
                "sipusername": "2000",
                "sippassword": "29de?8",
                "transport": "TLS",
                "authusername": "2000",
                "srtp": "Enabled",
            },
            {
                "sipusername": "2001",
                "sippassword": "29de?8",
                "transport": "TLS",
                "authusername": "2001",
                "srtp": "Enabled",
            },
        ],
    ),
    "openldap": (
        entry(uid="alice", mail="alice@example.com", sipExtension="1001", sipOtherExtension="2001", sipSecret="s3"),
        [
            {"sipusername": "1001", "sippassword": "s3", "transport": "TLS", "authusername": "1001"},
            {"sipusername": "2001", "sippassword": "s3", "transport": "TLS", "authusername": "2001"},
        ],
    ),
    "asterisk": (
        entry(
            uid="jbloggs",
            cn="Joe Bloggs",
            AstAccountName="1001",
            AstAccountSecret="29de?8",
            AstAccountTransport="ws,tls,udp",
            AstAccountVideoSupport="always",
            AstAccountCallerID='"Joe Bloggs" <1001>',
            AstAccountContext="internal",
            AstAccountHost="dynamic",
            AstAccountRealmedPassword="{md5}0c4e7a6c6b5ee4b7a3f0f8b2a1d4c9e1",
        ),
        [
            {
                "sipusername": "1001",
                "sippassword": "29de?8",
                "transport": "TLS",
                "authusername": "1001",
                "video": "Enabled",
            },
        ],
    ),
    "freeipa": (
        entry(
            ("cn=ipausers,cn=groups,cn=accounts,dc=ipa,dc=example",),
            uid="asmith",
            krbPrincipalName="asmith@IPA.EXAMPLE",
            ipaUniqueID="6d1c4f2e-8b0a-11ef-9a3b-525400c0ffee",
            sipExtension="2001",
            sipSecret="ipa-s3",
        ),
        [{"sipusername": "2001", "sippassword": "ipa-s3", "transport": "TLS", "authusername": "2001"}],
    ),
}


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_maps_a_realistic_entry_exactly(name: str) -> None:
    user, expected = REALISTIC[name]
    result = map_accounts(user, load_schema(preset=name))
    assert [account.to_json() for account in result.accounts] == expected
    assert result.problems == ()


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({}, {"transport": "UDP"}, id="no-transport-means-udp"),
        pytest.param({"AstAccountTransport": "udp,tcp"}, {"transport": "UDP"}, id="first-of-a-list"),
        pytest.param({"AstAccountTransport": "TCP"}, {"transport": "TCP"}, id="upper-case"),
        pytest.param({"AstAccountVideoSupport": "yes"}, {"transport": "UDP", "video": "Enabled"}, id="video-yes"),
        pytest.param({"AstAccountVideoSupport": "no"}, {"transport": "UDP", "video": "Disabled"}, id="video-no"),
    ],
)
def test_asterisk_preset_reads_asterisk_spellings(attributes: dict[str, str], expected: dict[str, str]) -> None:
    user = entry(AstAccountName="1001", AstAccountSecret="s", **attributes)
    account = map_accounts(user, load_schema(preset="asterisk")).accounts[0].to_json()
    expected_video = {"video": "Disabled"} if "video" not in expected else {}
    assert account == {"sipusername": "1001", "sippassword": "s", "authusername": "1001", **expected_video, **expected}


def test_asterisk_user_with_only_an_md5_secret_gets_no_line() -> None:
    user = entry(AstAccountName="1002", AstAccountRealmedPassword="{md5}5d41402abc4b2a76b9719d911017c592")
    result = map_accounts(user, load_schema(preset="asterisk"))
    assert result.accounts == ()
    assert result.problems == ("account 1 (own-line): sippassword: attribute AstAccountSecret has no value",)


@pytest.mark.parametrize(
    ("name", "attributes", "groups"),
    [
        ("active-directory", {"ipPhone", "otherIpPhone", "msDS-cloudExtensionAttribute1"}, set()),
        ("openldap", {"sipExtension", "sipOtherExtension", "sipSecret"}, set()),
        ("asterisk", {"AstAccountName", "AstAccountSecret", "AstAccountTransport", "AstAccountVideoSupport"}, set()),
        ("freeipa", {"sipExtension", "sipOtherExtension", "sipSecret"}, set()),
    ],
)
def test_each_preset_lists_the_attributes_it_reads(name: str, attributes: set[str], groups: set[str]) -> None:
    schema = load_schema(preset=name)
    assert schema.attributes() == attributes
    assert schema.groups() == groups


def test_schema_file_with_three_mistakes_reports_all_three_with_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        """
[[accounts]]
sipusername = { attribute = "ipPhone", value = "1" }
sippassword = { attribute = "sipSecret" }
transport = "QUIC"
colour = "blue"
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert sorted(caught.value.problems) == sorted(
        [
            f"{path}: accounts[1].sipusername: give exactly one of value, attribute, template, member_of, present "
            "(given: value, attribute)",
            f"{path}: accounts[1].transport: 'QUIC' is not one of UDP, TCP, TLS",
            f"{path}: accounts[1].colour: Extra inputs are not permitted",
        ]
    )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        pytest.param('video = "yes"', "accounts[1].video: 'yes' must be 'Enabled' or 'Disabled'", id="flag-literal"),
        pytest.param(
            'video = { member_of = "cn=v,dc=x", then = "On" }',
            "accounts[1].video: 'On' must be 'Enabled' or 'Disabled'",
            id="flag-then",
        ),
        pytest.param(
            'proxy = { present = "l" }',
            "accounts[1].proxy: give then = ... (only the Enabled/Disabled flags have a default)",
            id="condition-on-text-field-needs-then",
        ),
        pytest.param(
            'subdomain = { attribute = "telephoneNumber", extract = "x(\\\\d+" }',
            "accounts[1].subdomain.extract: not a valid regular expression: missing ), unterminated subpattern "
            "at position 1",
            id="extract-not-a-regex",
        ),
        pytest.param(
            'subdomain = { attribute = "telephoneNumber", extract = "x(\\\\d+)" }',
            "accounts[1].subdomain.extract: needs exactly one named group such as (?P<extension>[0-9]+), found 0",
            id="extract-without-named-group",
        ),
        pytest.param(
            'subdomain = { attribute = "title", matches = "(" }',
            "accounts[1].subdomain.matches: not a valid regular expression: missing ), unterminated subpattern "
            "at position 0",
            id="matches-not-a-regex",
        ),
        pytest.param(
            'subdomain = { template = "{givenName" }',
            "accounts[1].subdomain.template: unbalanced '{' at position 1 (write {{ for a brace)",
            id="template-unbalanced",
        ),
        pytest.param(
            'subdomain = { template = "pbx" }',
            "accounts[1].subdomain.template: no {attribute} placeholder in it; use value for fixed text",
            id="template-without-placeholder",
        ),
        pytest.param(
            'subdomain = { template = "{given name}" }',
            "accounts[1].subdomain.template: 'given name' is not an LDAP attribute name",
            id="template-bad-attribute-name",
        ),
        pytest.param(
            'subdomain = { attribute = "l", transform = "title" }',
            "accounts[1].subdomain.transform[1]: Input should be 'lower', 'upper', 'strip' or 'digits'",
            id="unknown-transform",
        ),
        pytest.param(
            'subdomain = { value = "pbx", transform = "lower" }',
            "accounts[1].subdomain: transform only applies to attribute or template",
            id="transform-on-literal",
        ),
        pytest.param(
            'subdomain = { member_of = "cn=x,dc=y", then = "a", default = "b" }',
            "accounts[1].subdomain: default only applies to attribute or template",
            id="default-on-condition",
        ),
        pytest.param(
            'subdomain = { attribute = "l", then = "a" }',
            "accounts[1].subdomain: then and else only apply to member_of, present, or attribute with matches",
            id="then-without-condition",
        ),
        pytest.param(
            'subdomain = { present = "l", matches = "x", then = "a" }',
            "accounts[1].subdomain: matches only applies to attribute",
            id="matches-without-attribute",
        ),
        pytest.param(
            'granted_by = "Reception"',
            "accounts[1].granted_by: give group DNs, such as CN=Reception,OU=Groups,DC=corp,DC=example",
            id="granted-by-not-a-dn",
        ),
        pytest.param(
            'for_each = "other ip phone"',
            "accounts[1].for_each: 'other ip phone' is not an LDAP attribute name",
            id="for-each-bad-name",
        ),
    ],
)
def test_field_mistakes_are_reported_with_the_key(tmp_path: Path, field: str, message: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(f'[[accounts]]\nsipusername = "1"\nsippassword = "s"\ntransport = "UDP"\n{field}\n')
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems == [f"{path}: {message}"]


def test_schema_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[accounts]\n")
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems[0].startswith(f"{path}: not valid TOML: ")


def test_schema_without_accounts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text('description = "nothing"\n')
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems == [f"{path}: accounts: Field required"]


def test_duplicate_account_ids_in_one_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    line = '[[accounts]]\nid = "main"\nsipusername = "1"\nsippassword = "s"\ntransport = "UDP"\n'
    path.write_text(line + line)
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems == [f"{path}: accounts[2].id: 'main' is also the id of accounts[1] in this file"]
