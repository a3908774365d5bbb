"""The mapper is a pure function: DirectoryUser + AttributeSchema -> SIP accounts."""

from __future__ import annotations

import pytest

from gateway.mapping.mapper import map_accounts
from gateway.mapping.presets import load_schema
from gateway.mapping.spec import AttributeSchema
from gateway.models import AttributeValues, DirectoryUser, normalize_dn

VIDEO = "CN=Video Users,OU=Groups,DC=example,DC=test"


def user(groups: tuple[str, ...] = (), **attributes: str | list[str]) -> DirectoryUser:
    values = {name: value if isinstance(value, list) else [value] for name, value in attributes.items()}
    return DirectoryUser(
        dn="CN=Joe,DC=example,DC=test",
        key="k",
        attributes=AttributeValues(values),
        groups=frozenset(normalize_dn(g) for g in groups),
    )


def schema(**fields: object) -> AttributeSchema:
    account = {"sipusername": {"attribute": "ipPhone"}, "sippassword": {"attribute": "sipSecret"}, "transport": "UDP"}
    account.update(fields)
    return AttributeSchema.model_validate({"accounts": [account]})


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
            {"sipusername": "1", "sippassword": "s", "transport": "UDP", "subdomain": "pbx"},
            id="default-when-attribute-missing",
        ),
        pytest.param(
            {"video": {"member_of": VIDEO}},
            {"ipPhone": "1", "sipSecret": "s"},
            (VIDEO.lower(),),
            {"sipusername": "1", "sippassword": "s", "transport": "UDP", "video": "Enabled"},
            id="group-member-enabled",
        ),
        pytest.param(
            {"video": {"member_of": VIDEO}},
            {"ipPhone": "1", "sipSecret": "s"},
            (),
            {"sipusername": "1", "sippassword": "s", "transport": "UDP", "video": "Disabled"},
            id="group-non-member-disabled",
        ),
        pytest.param(
            {"messaging": {"attribute": "imEnabled"}},
            {"ipPhone": "1", "sipSecret": "s", "imEnabled": "TRUE"},
            (),
            {"sipusername": "1", "sippassword": "s", "transport": "UDP", "messaging": "Enabled"},
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
    ],
)
def test_field_sources(
    fields: dict[str, object], attributes: dict[str, str], groups: tuple[str, ...], expected: dict[str, str]
) -> None:
    result = map_accounts(user(groups, **attributes), schema(**fields))
    assert [account.to_json() for account in result.accounts] == [expected]
    assert result.problems == ()


def test_missing_extension_gives_no_account_and_names_the_attribute() -> None:
    result = map_accounts(user(sipSecret="s"), schema())
    assert result.accounts == ()
    assert result.problems == ("account 1: sipusername: attribute ipPhone has no value",)


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


def test_attribute_names_are_case_insensitive() -> None:
    result = map_accounts(user(IPPHONE="7", SIPSECRET="s"), schema())
    assert result.accounts[0].sipusername == "7"


def test_mapper_is_deterministic_and_does_not_mutate_input() -> None:
    joe = user(ipPhone="1", sipSecret="s")
    spec = schema()
    assert map_accounts(joe, spec) == map_accounts(joe, spec)


def test_account_json_omits_unset_optional_fields_never_null() -> None:
    account = map_accounts(user(ipPhone="1", sipSecret="s"), schema()).accounts[0]
    assert None not in account.to_json().values()
    assert set(account.to_json()) == {"sipusername", "sippassword", "transport"}


def test_masked_account_hides_the_secret_and_repr_never_shows_it() -> None:
    account = map_accounts(user(ipPhone="1", sipSecret="topsecret"), schema()).accounts[0]
    assert account.masked().sippassword == "********"
    assert "topsecret" not in repr(account)
