"""User input reaches LDAP filters and DNs only through gateway.directory.search, escaped."""

from __future__ import annotations

import pytest

from gateway.directory.search import UserSearch, direct_bind_name, equality, escape_filter_value, member_of_any

AD = UserSearch(
    base_dn="DC=corp,DC=example",
    user_filter="(&(objectCategory=person)(objectClass=user))",
    login_attributes=("sAMAccountName", "userPrincipalName"),
    netbios_domain="CORP",
)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("*", r"\2a"),
        ("(", r"\28"),
        (")", r"\29"),
        ("\\", r"\5c"),
        ("\x00", r"\00"),
        ("jbloggs)(|(uid=*", r"jbloggs\29\28|\28uid=\2a"),
        ("*)(objectClass=*", r"\2a\29\28objectClass=\2a"),
        ("plain", "plain"),
    ],
)
def test_filter_metacharacters_are_escaped(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_login_searches_every_login_attribute() -> None:
    assert AD.filter_for("jbloggs") == (
        "(&(&(objectCategory=person)(objectClass=user))(|(sAMAccountName=jbloggs)(userPrincipalName=jbloggs)))"
    )


def test_injection_attempt_cannot_widen_the_filter() -> None:
    text = AD.filter_for("*)(sAMAccountName=*")
    assert text is not None
    assert "(sAMAccountName=*)" not in text
    assert r"\2a\29\28sAMAccountName=\2a" in text


def test_domain_backslash_user_searches_sam_account_name() -> None:
    assert AD.filter_for("CORP\\jbloggs") == ("(&(&(objectCategory=person)(objectClass=user))(sAMAccountName=jbloggs))")
    assert AD.filter_for("corp\\jbloggs") == AD.filter_for("CORP\\jbloggs")


def test_other_domain_prefix_matches_nobody() -> None:
    assert AD.filter_for("EVIL\\jbloggs") is None
    assert AD.filter_for("CORP\\") is None


def test_domain_prefix_accepted_when_no_netbios_domain_configured() -> None:
    open_search = UserSearch("dc=x", "(objectClass=user)", ("sAMAccountName",))
    assert open_search.filter_for("ANY\\bob") == "(&(objectClass=user)(sAMAccountName=bob))"


def test_attribute_names_are_checked_not_escaped() -> None:
    with pytest.raises(ValueError, match="not an attribute name"):
        equality("uid)(cn", "x")
    assert equality("1.2.840.113556.1.4.221", "x") == "(1.2.840.113556.1.4.221=x)"


def test_direct_bind_dn_template_escapes_the_rdn_value() -> None:
    assert direct_bind_name("uid={username},ou=people,dc=x", "a,b+c") == r"uid=a\,b\+c,ou=people,dc=x"
    assert direct_bind_name("{username}@corp.example", "jbloggs") == "jbloggs@corp.example"


def test_group_filters_escape_group_dns() -> None:
    assert member_of_any("memberOf", ["cn=a*(b),dc=x"]) == r"(memberOf=cn=a\2a\28b\29,dc=x)"
    assert member_of_any("memberOf", ["cn=a,dc=x", "cn=b,dc=x"], in_chain=True) == (
        "(|(memberOf:1.2.840.113556.1.4.1941:=cn=a,dc=x)(memberOf:1.2.840.113556.1.4.1941:=cn=b,dc=x))"
    )
