"""Site files layer over a preset: only what differs, every problem traced to its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.demo import DEMO_SCHEMA
from gateway.errors import ConfigError
from gateway.mapping.mapper import map_accounts
from gateway.mapping.presets import load_layers, load_schema, preset_path
from gateway.models import AttributeValues, DirectoryUser, normalize_dn

RECEPTION = "CN=Reception,OU=Groups,DC=corp,DC=example"
VIDEO = "CN=Video Users,OU=Groups,DC=corp,DC=example"
SECRET = "msDS-cloudExtensionAttribute1"


def site(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def joe(*groups: str, **attributes: str | list[str]) -> DirectoryUser:
    values = {"ipPhone": ["1001"], SECRET: ["s"], "extensionAttribute5": ["x5"], "otherIpPhone": ["2000"]}
    values.update({name: value if isinstance(value, list) else [value] for name, value in attributes.items()})
    return DirectoryUser("CN=Joe", "k", AttributeValues(values), frozenset(normalize_dn(g) for g in groups))


def lines(path: Path, user: DirectoryUser) -> list[dict[str, str]]:
    result = map_accounts(user, load_schema(file=path))
    assert result.problems == ()
    return [account.to_json() for account in result.accounts]


def test_site_file_with_only_a_base_is_the_preset(tmp_path: Path) -> None:
    path = site(tmp_path, 'base = "active-directory"\n')
    assert load_schema(file=path) == load_schema(preset="active-directory")


def test_site_overrides_one_directory_key_and_keeps_the_others(tmp_path: Path) -> None:
    path = site(tmp_path, 'base = "active-directory"\n[directory]\nlogin_attributes = ["mail"]\n')
    profile = load_schema(file=path).directory
    assert profile.login_attributes == ("mail",)
    assert profile.user_filter == "(&(objectCategory=person)(objectClass=user))"
    assert profile.group_membership == "in-chain"


def test_site_overrides_one_field_of_a_preset_account_by_id(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        'base = "active-directory"\n[[accounts]]\nid = "own-line"\nvideo = { member_of = "' + VIDEO + '" }\n',
    )
    own, extra = lines(path, joe(VIDEO))
    assert own == {
        "sipusername": "1001", "sippassword": "s", "transport": "TLS", "authusername": "1001",
        "srtp": "Enabled", "video": "Enabled",
    }  # fmt: skip
    assert "video" not in extra


def test_site_account_defaults_override_every_preset_account(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        'base = "active-directory"\n[account_defaults]\nsippassword = { attribute = "extensionAttribute5" }\n'
        'transport = "UDP"\n',
    )
    assert [(a["sippassword"], a["transport"]) for a in lines(path, joe())] == [("x5", "UDP"), ("x5", "UDP")]
    assert SECRET not in load_schema(file=path).attributes()


def test_an_accounts_own_field_beats_the_defaults_of_its_file(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        'base = "active-directory"\n[account_defaults]\ntransport = "UDP"\n'
        '[[accounts]]\nid = "extra-lines"\ntransport = "TCP"\n',
    )
    assert [a["transport"] for a in lines(path, joe())] == ["UDP", "TCP"]


def test_new_site_account_comes_after_the_preset_ones_and_inherits_preset_defaults(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        f"""base = "active-directory"
[[accounts]]
id = "reception"
granted_by = "{RECEPTION}"
sipusername = "2100"
sippassword = {{ attribute = "receptionSecret" }}
""",
    )
    found = lines(path, joe(RECEPTION, receptionSecret="r"))
    assert [a["sipusername"] for a in found] == ["1001", "2000", "2100"]
    assert found[2] == {"sipusername": "2100", "sippassword": "r", "transport": "TLS", "srtp": "Enabled"}
    assert load_schema(file=path).groups() == {RECEPTION}


def test_enabled_false_drops_a_preset_account(tmp_path: Path) -> None:
    path = site(tmp_path, 'base = "active-directory"\n[[accounts]]\nid = "extra-lines"\nenabled = false\n')
    schema = load_schema(file=path)
    assert [account.id for account in schema.accounts] == ["own-line"]
    assert "otherIpPhone" not in schema.attributes()


def test_demo_schema_layers_over_the_openldap_preset() -> None:
    loaded = load_layers(file=DEMO_SCHEMA)
    assert loaded.files == (str(preset_path("openldap")), str(DEMO_SCHEMA))
    assert [account.transport.value for account in loaded.schema.accounts] == ["UDP", "UDP"]


def test_site_file_with_three_mistakes_reports_all_three_with_file_and_key(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        """base = "active-directory"

[directory]
group_membership = "nested"

[[accounts]]
id = "own-line"
video = { member_of = "CN=Video Users,OU=Groups,DC=corp,DC=example", then = "On" }

[[accounts]]
id = "recepton"
sipusername = "2100"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert sorted(caught.value.problems) == [
        f"{path}: accounts[1].video: 'On' must be 'Enabled' or 'Disabled'",
        f"{path}: accounts[2].id: 'recepton' is not the id of an account below this file "
        "(ids: own-line, extra-lines); a new account needs sippassword",
        f"{path}: directory.group_membership: Input should be 'member-of' or 'in-chain'",
    ]


def test_problem_in_a_value_taken_from_the_base_names_the_base_file(tmp_path: Path) -> None:
    base = site(
        tmp_path,
        '[account_defaults]\ntransport = "QUIC"\n[[accounts]]\nid = "a"\nsipusername = "1"\nsippassword = "s"\n',
        name="base.toml",
    )
    path = site(tmp_path, 'base = "mine"\n[[accounts]]\nid = "a"\ncolour = "blue"\n')
    with pytest.raises(ConfigError) as caught:
        load_layers(file=path, find_preset=lambda name: base)
    assert sorted(caught.value.problems) == [
        f"{base}: account_defaults.transport: 'QUIC' is not one of UDP, TCP, TLS",
        f"{path}: accounts[1].colour: Extra inputs are not permitted",
    ]


def test_new_account_missing_a_field_is_reported_against_the_site_file(tmp_path: Path) -> None:
    path = site(tmp_path, 'base = "openldap"\n[[accounts]]\nsipusername = "2100"\n')
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems == [f"{path}: accounts[1].sippassword: Field required"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            'base = "exchange"\n',
            "base: unknown preset 'exchange' (known: active-directory, asterisk, freeipa, openldap)",
            id="unknown-base",
        ),
        pytest.param(
            "base = 3\n",
            "base: give the name of a preset (active-directory, asterisk, freeipa, openldap)",
            id="not-text",
        ),
        pytest.param(
            'base = "openldap"\n[account_defaults]\nfor_each = "x"\n',
            "account_defaults.for_each: not an account field; defaults can be given for sipusername, sippassword, "
            "transport, subdomain, authusername, srtp, proxy, messaging, video, callrecording",
            id="defaults-of-a-non-field",
        ),
        pytest.param(
            'base = "openldap"\n[[accounts]]\nid = "own-line"\nenabled = "no"\n',
            "accounts[1].enabled: must be true or false",
            id="enabled-not-a-boolean",
        ),
        pytest.param(
            'base = "openldap"\naccounts = "all"\n',
            "accounts: must be an array of tables ([[accounts]])",
            id="accounts-shape",
        ),
        pytest.param(
            'base = "openldap"\ncolour = "blue"\n', "colour: Extra inputs are not permitted", id="unknown-top-level-key"
        ),
    ],
)
def test_site_file_mistakes_name_the_site_file(tmp_path: Path, text: str, problem: str) -> None:
    path = site(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems == [f"{path}: {problem}"]


def test_a_preset_cannot_name_a_base(tmp_path: Path) -> None:
    base = site(tmp_path, 'base = "openldap"\n[[accounts]]\nsipusername = "1"\nsippassword = "s"\ntransport = "UDP"\n')
    path = site(tmp_path, 'base = "chained"\n', name="site.toml")
    with pytest.raises(ConfigError) as caught:
        load_layers(file=path, find_preset=lambda name: base)
    assert caught.value.problems == [f"{base}: base: a preset cannot name a base; only a site file can"]
