"""The mapper is a pure function: DirectoryUser + AttributeSchema -> SIP accounts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.mapping.mapper import map_accounts
from gateway.mapping.presets import load_schema
from gateway.mapping.spec import AttributeSchema
from gateway.models import AttributeValues, DirectoryUser, normalize_dn

VIDEO = "CN=Video Users,OU=Groups,DC=example,DC=test"
RECEPTION = "CN=Reception,OU=Groups,DC=example,DC=test"
HUNT = "CN=Sales Hunt,OU=Groups,DC=example,DC=test"
BASE = {"sipusername": "1", "sippassword": "s", "transport": "UDP"}


def user(groups: tuple[str, ...] = (), /, **attributes: str | list[str]) -> DirectoryUser:
    values = {name: value if isinstance(value, list) else [value] for name, value in attributes.items()}
    return DirectoryUser(
        dn="CN=Joe,DC=example,DC=test",
        key="k",
        attributes=AttributeValues(values),
        groups=frozenset(normalize_dn(g) for g in groups),
    )


def schema(**fields: object) -> AttributeSchema:
    account: dict[str, object] = {
        "sipusername": {"attribute": "ipPhone"},
        "sippassword": {"attribute": "sipSecret"},
        "transport": "UDP",
    }
    account.update(fields)
    return AttributeSchema.model_validate({"accounts": [account]})


def accounts_schema(*accounts: Mapping[str, object]) -> AttributeSchema:
    return AttributeSchema.model_validate({"accounts": list(accounts)})


@pytest.mark.parametrize(
    ("fields", "attributes", "groups", "expected"),
    [
        pytest.param(
            {},
            {"ipPhone": "1001", "sipSecret": "s"},
            (),
            {"sipusername": "1001", "sippassword": "s", "transport": "UDP"},
            id="attribute-and-literal",
        ),
        pytest.param(
            {"proxy": "proxy.example.test"},
            {"ipPhone": "1001", "sipSecret": "s"},
            (),
            {"sipusername": "1001", "sippassword": "s", "transport": "UDP", "proxy": "proxy.example.test"},
            id="literal-optional-field",
        ),
        pytest.param(
            {"sipusername": {"attribute": "ipPhone", "fallback": ["telephoneNumber"]}},
            {"telephoneNumber": "4455", "sipSecret": "s"},
            (),
            {"sipusername": "4455", "sippassword": "s", "transport": "UDP"},
            id="fallback-attribute",
        ),
        pytest.param(
            {"subdomain": {"attribute": "department", "default": "pbx"}},
            {"ipPhone": "1", "sipSecret": "s"},
            (),
            {**BASE, "subdomain": "pbx"},
            id="default-when-attribute-missing",
        ),
        pytest.param(
            {"video": {"member_of": VIDEO}},
            {"ipPhone": "1", "sipSecret": "s"},
            (VIDEO.lower(),),
            {**BASE, "video": "Enabled"},
            id="group-member-enabled",
        ),
        pytest.param(
            {"video": {"member_of": VIDEO}},
            {"ipPhone": "1", "sipSecret": "s"},
            (),
            {**BASE, "video": "Disabled"},
            id="group-non-member-disabled",
        ),
        pytest.param(
            {"messaging": {"attribute": "imEnabled"}},
            {"ipPhone": "1", "sipSecret": "s", "imEnabled": "TRUE"},
            (),
            {**BASE, "messaging": "Enabled"},
            id="flag-from-boolean-attribute",
        ),
        pytest.param(
            {"transport": {"attribute": "sipTransport"}},
            {"ipPhone": "1", "sipSecret": "s", "sipTransport": "tls"},
            (),
            {"sipusername": "1", "sippassword": "s", "transport": "TLS"},
            id="transport-normalized",
        ),
        pytest.param(
            {},
            {"ipPhone": "  1001 ", "sipSecret": "s"},
            (),
            {"sipusername": "1001", "sippassword": "s", "transport": "UDP"},
            id="values-stripped",
        ),
        # ---- templates
        pytest.param(
            {"authusername": {"template": "{givenName} {sn}"}},
            {"ipPhone": "1", "sipSecret": "s", "givenName": "Joe", "sn": "Bloggs"},
            (),
            {**BASE, "authusername": "Joe Bloggs"},
            id="template-of-two-attributes",
        ),
        pytest.param(
            {"sipusername": {"template": "{ipPhone}@pbx"}},
            {"ipPhone": "1001", "sipSecret": "s"},
            (),
            {"sipusername": "1001@pbx", "sippassword": "s", "transport": "UDP"},
            id="template-attribute-and-text",
        ),
        pytest.param(
            {"proxy": {"template": "{{sip}}.{l}.example.test", "transform": "lower"}},
            {"ipPhone": "1", "sipSecret": "s", "l": "London"},
            (),
            {**BASE, "proxy": "{sip}.london.example.test"},
            id="template-escaped-braces-then-lower",
        ),
        pytest.param(
            {"authusername": {"template": "{givenName} {sn}", "default": "anonymous"}},
            {"ipPhone": "1", "sipSecret": "s", "givenName": "Joe"},
            (),
            {**BASE, "authusername": "anonymous"},
            id="template-with-missing-attribute-uses-default",
        ),
        # ---- regex extracts
        pytest.param(
            {"sipusername": {"attribute": "telephoneNumber", "extract": r"x(?P<extension>\d+)$"}},
            {"telephoneNumber": "+44 20 7946 0123 x123", "sipSecret": "s"},
            (),
            {"sipusername": "123", "sippassword": "s", "transport": "UDP"},
            id="extract-extension-from-telephone-number",
        ),
        pytest.param(
            {"sipusername": {"attribute": "telephoneNumber", "extract": r"x(?P<extension>\d+)$"}},
            {"telephoneNumber": ["+44 20 7946 0000", "+44 20 7946 0123 x456"], "sipSecret": "s"},
            (),
            {"sipusername": "456", "sippassword": "s", "transport": "UDP"},
            id="extract-tries-each-value-in-order",
        ),
        pytest.param(
            {"sipusername": {"attribute": "ipPhone", "fallback": ["telephoneNumber"], "extract": r"(?P<ext>\d{4})$"}},
            {"ipPhone": "n/a", "telephoneNumber": "+1 555 010 2042", "sipSecret": "s"},
            (),
            {"sipusername": "2042", "sippassword": "s", "transport": "UDP"},
            id="extract-falls-back-to-the-next-attribute",
        ),
        pytest.param(
            {"subdomain": {"template": "{mail}", "extract": r"@(?P<site>[^.]+)\."}},
            {"ipPhone": "1", "sipSecret": "s", "mail": "joe@leeds.example.test"},
            (),
            {**BASE, "subdomain": "leeds"},
            id="extract-from-template",
        ),
        # ---- transforms
        pytest.param(
            {"sipusername": {"attribute": "telephoneNumber", "transform": "digits"}},
            {"telephoneNumber": "+44 (20) 7946-0123", "sipSecret": "s"},
            (),
            {"sipusername": "442079460123", "sippassword": "s", "transport": "UDP"},
            id="transform-digits-only",
        ),
        pytest.param(
            {"subdomain": {"attribute": "department", "transform": ["strip", "lower"]}},
            {"ipPhone": "1", "sipSecret": "s", "department": "SALES"},
            (),
            {**BASE, "subdomain": "sales"},
            id="transform-chain",
        ),
        pytest.param(
            {"transport": {"attribute": "sipTransport", "extract": r"^(?P<t>\w+)", "transform": "upper"}},
            {"ipPhone": "1", "sipSecret": "s", "sipTransport": "tcp,udp"},
            (),
            {"sipusername": "1", "sippassword": "s", "transport": "TCP"},
            id="extract-then-transform",
        ),
        # ---- conditions
        pytest.param(
            {"messaging": {"present": "mail"}},
            {"ipPhone": "1", "sipSecret": "s", "mail": "joe@example.test"},
            (),
            {**BASE, "messaging": "Enabled"},
            id="present-enabled",
        ),
        pytest.param(
            {"messaging": {"present": "mail"}},
            {"ipPhone": "1", "sipSecret": "s", "mail": "   "},
            (),
            {**BASE, "messaging": "Disabled"},
            id="present-blank-is-absent",
        ),
        pytest.param(
            {"callrecording": {"attribute": "title", "matches": "(?i)manager"}},
            {"ipPhone": "1", "sipSecret": "s", "title": "Sales Manager"},
            (),
            {**BASE, "callrecording": "Enabled"},
            id="matches-enabled",
        ),
        pytest.param(
            {"callrecording": {"attribute": "title", "matches": "(?i)manager"}},
            {"ipPhone": "1", "sipSecret": "s", "title": "Engineer"},
            (),
            {**BASE, "callrecording": "Disabled"},
            id="matches-disabled",
        ),
        pytest.param(
            {"video": {"attribute": "title", "matches": "^Dir", "then": "Disabled", "else": "Enabled"}},
            {"ipPhone": "1", "sipSecret": "s", "title": "Director"},
            (),
            {**BASE, "video": "Disabled"},
            id="matches-with-own-then-else",
        ),
        pytest.param(
            {"subdomain": {"member_of": VIDEO, "then": "video", "else": "pbx"}},
            {"ipPhone": "1", "sipSecret": "s"},
            (VIDEO,),
            {**BASE, "subdomain": "video"},
            id="member-of-gives-any-text",
        ),
        pytest.param(
            {"proxy": {"present": "l", "then": "proxy.example.test"}},
            {"ipPhone": "1", "sipSecret": "s"},
            (),
            BASE,
            id="condition-without-else-leaves-the-field-out",
        ),
    ],
)
def test_field_sources(
    fields: dict[str, object], attributes: dict[str, str], groups: tuple[str, ...], expected: dict[str, str]
) -> None:
    result = map_accounts(user(groups, **attributes), schema(**fields))
    assert [account.to_json() for account in result.accounts] == [expected]
    assert result.problems == ()


@pytest.mark.parametrize(
    ("fields", "attributes", "problem"),
    [
        pytest.param({}, {"sipSecret": "s"}, "sipusername: attribute ipPhone has no value", id="attribute"),
        pytest.param(
            {"sipusername": {"attribute": "ipPhone", "fallback": ["mobile"]}},
            {"sipSecret": "s"},
            "sipusername: attributes ipPhone, mobile have no value",
            id="attribute-with-fallback",
        ),
        pytest.param(
            {"sipusername": {"attribute": "telephoneNumber", "extract": r"x(?P<ext>\d+)"}},
            {"telephoneNumber": "+44 20 7946 0123", "sipSecret": "s"},
            r"sipusername: no value of attribute telephoneNumber matches extract 'x(?P<ext>\\d+)'",
            id="extract-without-match",
        ),
        pytest.param(
            {"sipusername": {"attribute": "ipPhone", "transform": "digits"}},
            {"ipPhone": "none", "sipSecret": "s"},
            "sipusername: no value of attribute ipPhone is left after transform digits",
            id="transform-leaves-nothing",
        ),
        pytest.param(
            {"sipusername": {"template": "{ipPhone}-{site}"}},
            {"ipPhone": "1", "sipSecret": "s"},
            "sipusername: template '{ipPhone}-{site}': attribute site has no value",
            id="template",
        ),
        pytest.param(
            {"sipusername": {"member_of": VIDEO, "then": "1"}},
            {"sipSecret": "s"},
            f"sipusername: member of {VIDEO} is not true and no else is given",
            id="condition",
        ),
    ],
)
def test_missing_required_field_gives_no_account_and_names_the_attribute(
    fields: dict[str, object], attributes: dict[str, str], problem: str
) -> None:
    result = map_accounts(user(**attributes), schema(**fields))
    assert result.accounts == ()
    assert result.problems == (f"account 1: {problem}",)


def test_problems_never_show_a_value_read_from_the_directory() -> None:
    spec = schema(sippassword={"attribute": "sipSecret", "extract": r"^(?P<secret>[a-z]+)$"})
    result = map_accounts(user(ipPhone="1", sipSecret="Top-Secret-99"), spec)
    assert result.accounts == ()
    assert len(result.problems) == 1
    assert "Top-Secret-99" not in result.problems[0]


def test_unreadable_flag_is_left_out_not_guessed() -> None:
    result = map_accounts(
        user(ipPhone="1", sipSecret="s", imEnabled="maybe"), schema(messaging={"attribute": "imEnabled"})
    )
    assert result.accounts[0].messaging is None
    assert result.problems == ("account 1: messaging: 'maybe' is not a yes/no value; field left out",)


def test_invalid_transport_from_directory_skips_the_account() -> None:
    result = map_accounts(
        user(ipPhone="1", sipSecret="s", sipTransport="SCTP"), schema(transport={"attribute": "sipTransport"})
    )
    assert result.accounts == ()
    assert result.problems == ("account 1: transport: 'SCTP' is not one of UDP, TCP, TLS",)


def test_multi_valued_attribute_gives_one_account_per_value_in_order() -> None:
    ad = load_schema(preset="active-directory")
    joe = user(ipPhone="1001", otherIpPhone=["2000", "2001"], **{"msDS-cloudExtensionAttribute1": "sec"})
    result = map_accounts(joe, ad)
    assert [a.sipusername for a in result.accounts] == ["1001", "2000", "2001"]
    assert {a.sippassword for a in result.accounts} == {"sec"}
    assert result.accounts[1].to_json() == {
        "sipusername": "2000",
        "sippassword": "sec",
        "transport": "TLS",
        "authusername": "2000",
        "srtp": "Enabled",
    }


def test_template_inside_for_each_uses_the_current_value() -> None:
    spec = accounts_schema(
        {
            "for_each": "otherIpPhone",
            "sipusername": {"template": "{otherIpPhone}@{l}", "transform": "lower"},
            "sippassword": {"attribute": "sipSecret"},
            "transport": "TLS",
        }
    )
    result = map_accounts(user(otherIpPhone=["2000", "2001"], l="HQ", sipSecret="s"), spec)
    assert [a.sipusername for a in result.accounts] == ["2000@hq", "2001@hq"]


RECEPTION_LINE: dict[str, object] = {
    "id": "reception",
    "granted_by": RECEPTION,
    "sipusername": "2000",
    "sippassword": {"attribute": "receptionSecret"},
    "transport": "TLS",
    "messaging": "Disabled",
}
HUNT_LINE: dict[str, object] = {
    "id": "sales-hunt",
    "granted_by": [HUNT, RECEPTION],
    "sipusername": {"template": "hunt-{ipPhone}"},
    "sippassword": {"attribute": "sipSecret"},
    "transport": "UDP",
}
OWN_LINE: dict[str, object] = {
    "id": "own-line",
    "sipusername": {"attribute": "ipPhone"},
    "sippassword": {"attribute": "sipSecret"},
}


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        pytest.param((), ["1001"], id="no-group-own-line-only"),
        pytest.param((RECEPTION,), ["1001", "2000", "hunt-1001"], id="reception-gets-both-shared-lines"),
        pytest.param((HUNT,), ["1001", "hunt-1001"], id="hunt-group-only"),
        pytest.param((HUNT, RECEPTION), ["1001", "2000", "hunt-1001"], id="order-is-the-schema-order"),
    ],
)
def test_group_membership_grants_shared_lines_in_schema_order(groups: tuple[str, ...], expected: list[str]) -> None:
    spec = accounts_schema({**OWN_LINE, "transport": "TLS"}, RECEPTION_LINE, HUNT_LINE)
    joe = user(groups, ipPhone="1001", sipSecret="own", receptionSecret="rcp")
    result = map_accounts(joe, spec)
    assert [account.sipusername for account in result.accounts] == expected
    assert result.problems == ()


def test_shared_line_has_its_own_fields() -> None:
    spec = accounts_schema({**OWN_LINE, "transport": "TLS"}, RECEPTION_LINE)
    result = map_accounts(user((RECEPTION,), ipPhone="1001", sipSecret="own", receptionSecret="rcp"), spec)
    assert result.accounts[1].to_json() == {
        "sipusername": "2000",
        "sippassword": "rcp",
        "transport": "TLS",
        "messaging": "Disabled",
    }


def test_shared_line_missing_its_secret_is_reported_with_its_id() -> None:
    spec = accounts_schema({**OWN_LINE, "transport": "TLS"}, RECEPTION_LINE)
    result = map_accounts(user((RECEPTION,), ipPhone="1001", sipSecret="own"), spec)
    assert [account.sipusername for account in result.accounts] == ["1001"]
    assert result.problems == ("account 2 (reception): sippassword: attribute receptionSecret has no value",)


def test_a_line_given_twice_is_provisioned_once() -> None:
    spec = accounts_schema(
        {**OWN_LINE, "transport": "TLS"},
        {
            "for_each": "otherIpPhone",
            "sipusername": {"attribute": "otherIpPhone"},
            "sippassword": "x",
            "transport": "TLS",
        },
    )
    result = map_accounts(user(ipPhone="1001", otherIpPhone=["2000", "1001", "2000"], sipSecret="s"), spec)
    assert [account.sipusername for account in result.accounts] == ["1001", "2000"]
    assert result.problems == ("account 2: line 1001 is already given by account 1 (own-line); left out",)


def test_attribute_names_are_case_insensitive() -> None:
    result = map_accounts(user(IPPHONE="7", SIPSECRET="s"), schema())
    assert result.accounts[0].sipusername == "7"


def test_mapper_is_deterministic_and_does_not_mutate_input() -> None:
    joe = user((RECEPTION,), ipPhone="1", otherIpPhone=["3", "2"], sipSecret="s", receptionSecret="r")
    spec = accounts_schema({**OWN_LINE, "transport": "TLS"}, RECEPTION_LINE)
    before = (joe.attributes.get("otherIpPhone"), spec.model_dump())
    assert map_accounts(joe, spec) == map_accounts(joe, spec)
    assert (joe.attributes.get("otherIpPhone"), spec.model_dump()) == before


def test_account_json_omits_unset_optional_fields_never_null() -> None:
    account = map_accounts(user(ipPhone="1", sipSecret="s"), schema()).accounts[0]
    assert None not in account.to_json().values()
    assert set(account.to_json()) == {"sipusername", "sippassword", "transport"}


def test_masked_account_hides_the_secret_and_repr_never_shows_it() -> None:
    account = map_accounts(user(ipPhone="1", sipSecret="topsecret"), schema()).accounts[0]
    assert account.masked().sippassword == "********"
    assert "topsecret" not in repr(account)


def test_schema_lists_every_attribute_and_group_it_reads() -> None:
    spec = accounts_schema(
        {
            "for_each": "otherIpPhone",
            "sipusername": {"template": "{otherIpPhone}@{l}"},
            "sippassword": {"attribute": "sipSecret", "fallback": ["ipPhoneSecret"]},
            "transport": "TLS",
            "messaging": {"present": "mail"},
            "callrecording": {"attribute": "title", "matches": "Manager"},
            "video": {"member_of": VIDEO},
        },
        RECEPTION_LINE,
    )
    assert spec.attributes() == {
        "otherIpPhone", "l", "sipSecret", "ipPhoneSecret", "mail", "title", "receptionSecret",
    }  # fmt: skip
    assert spec.groups() == {VIDEO, RECEPTION}
