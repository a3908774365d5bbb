"""``python -m gateway schema show | check | presets``: no server, no directory, no full configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.demo import DEMO_SCHEMA
from gateway.directory.entry import STATE_ATTRIBUTES
from gateway.mapping.export import schema_data
from gateway.mapping.presets import load_schema, preset_names, preset_path

RECEPTION = "CN=Reception,OU=Groups,DC=corp,DC=example"
SITE = f"""base = "active-directory"

[[accounts]]
id = "reception"
granted_by = "{RECEPTION}"
sipusername = "2100"
sippassword = "Rcp-Secret-42"
proxy = {{ template = "{{l}}.proxy.example", transform = "lower" }}
"""


@pytest.fixture(autouse=True)
def no_host_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_CONFIG", "GATEWAY_MAPPING__PRESET", "GATEWAY_MAPPING__FILE"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["schema", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", preset_names())
def test_show_prints_toml_that_reads_back_as_the_same_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    code, out, _ = run(capsys, "show", "--preset", name)
    assert code == 0
    printed = tmp_path / "printed.toml"
    printed.write_text(out)
    assert load_schema(file=printed) == load_schema(preset=name)


def test_show_prints_the_merged_site_file_and_masks_literal_secrets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0
    assert "Rcp-Secret-42" not in out
    assert out.startswith(
        "# Effective attribute schema (SIP secrets masked), built from:\n"
        f"#   {preset_path('active-directory')}\n#   {path}\n"
    )
    assert out.endswith(
        "\n[[accounts]]\n"
        'id = "reception"\n'
        f'granted_by = ["{RECEPTION}"]\n'
        'sipusername = "2100"\n'
        'sippassword = "********"\n'
        'transport = "TLS"\n'
        'srtp = "Enabled"\n'
        'proxy = { template = "{l}.proxy.example", transform = ["lower"] }\n'
    )


def test_show_json_is_the_schema_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "--preset", "asterisk", "--format", "json")
    assert code == 0
    assert json.loads(out) == schema_data(load_schema(preset="asterisk"))
    assert json.loads(out)["accounts"][0]["video"] == {
        "attribute": "AstAccountVideoSupport",
        "matches": "(?i)^(yes|always)$",
    }


def test_check_lists_the_attributes_the_service_account_must_read(capsys: pytest.CaptureFixture[str]) -> None:
    schema_attributes = {"AstAccountName", "AstAccountSecret", "AstAccountTransport", "AstAccountVideoSupport"}
    # plus the login attributes, the user key, memberOf and the openldap flavour's account-state attributes
    searched = {*schema_attributes, "uid", "mail", "entryUUID", "memberOf", *STATE_ATTRIBUTES["openldap"]}
    code, out, _ = run(capsys, "check", "--preset", "asterisk")
    assert code == 0
    assert out.splitlines() == [
        f"schema ok: {preset_path('asterisk')}",
        "accounts:            account 1 (own-line)",
        "attributes read:     AstAccountName, AstAccountSecret, AstAccountTransport, AstAccountVideoSupport",
        "groups tested:       none",
        "login attributes:    uid, mail (filter (objectClass=inetOrgPerson))",
        f"service account reads: {', '.join(sorted(searched, key=str.lower))}",
    ]


def test_check_of_a_site_file_names_groups_and_warns_about_a_literal_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0
    assert f"schema ok: {path} over {preset_path('active-directory')}" in out.splitlines()
    assert f"groups tested:       {RECEPTION}" in out.splitlines()
    assert "attributes read:     ipPhone, l, msDS-cloudExtensionAttribute1, otherIpPhone" in out.splitlines()
    assert out.splitlines()[-1] == (
        "warning: account 3 (reception): the SIP secret is fixed text in the schema; "
        "keep the file readable by the gateway only"
    )
    assert "Rcp-Secret-42" not in out


def test_check_reports_every_mistake_of_a_site_file_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'base = "openldap"\n[directory]\nflavour = "ad"\n[[accounts]]\nid = "own-line"\ntransport = "QUIC"\n'
        '[[accounts]]\nsipusername = { template = "{ipPhone" }\nsippassword = "s"\n'
    )
    code, out, _ = run(capsys, "check", str(path))
    assert code == 1
    assert out.splitlines() == [
        "schema has 3 problems:",
        f"  - {path}: directory.flavour: Input should be 'active-directory', 'openldap' or 'generic'",
        f"  - {path}: accounts[1].transport: 'QUIC' is not one of UDP, TCP, TLS",
        f"  - {path}: accounts[2].sipusername.template: unbalanced '{{' at position 1 (write {{{{ for a brace)",
    ]


def test_commands_use_the_mapping_of_the_configuration_file_without_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schema_file = tmp_path / "site.toml"
    schema_file.write_text(SITE)
    config = tmp_path / "gateway.toml"
    # No servers, no bind password: the full configuration would be refused, the schema commands need none of it.
    config.write_text(f'[directory]\nbase_dn = "dc=x"\n\n[mapping]\nfile = "{schema_file}"\n')
    code, out, _ = run(capsys, "check", "--config", str(config))
    assert code == 0
    assert out.splitlines()[0] == f"schema ok: {schema_file} over {preset_path('active-directory')}"


def test_environment_overrides_the_configuration_mapping(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[mapping]\npreset = "openldap"\n')
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    monkeypatch.setenv("GATEWAY_MAPPING__PRESET", "freeipa")
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert out.splitlines()[0] == f"schema ok: {preset_path('freeipa')}"


def test_without_any_source_the_gateway_default_preset_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check")
    assert code == 0
    assert out.splitlines()[0] == f"schema ok: {preset_path('active-directory')}"


def test_demo_option_shows_the_demo_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "--demo")
    assert code == 0
    assert f"#   {DEMO_SCHEMA}\n" in out
    assert 'video = { member_of = "cn=video-users,ou=groups,dc=example,dc=com" }' in out


def test_file_and_preset_together_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "show", str(tmp_path / "site.toml"), "--preset", "openldap")
    assert code == 1
    assert err == "schema has 1 problem:\n  - give a schema FILE or --preset NAME, not both\n"


def test_unreadable_schema_file_is_a_problem_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.toml"
    code, _, err = run(capsys, "show", str(missing))
    assert code == 1
    assert err == f"schema has 1 problem:\n  - {missing}: cannot read schema file (No such file or directory)\n"


def test_presets_lists_every_shipped_preset_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "presets")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["active-directory", "asterisk", "freeipa", "openldap"]
    assert out.splitlines()[1] == f"{'asterisk':<18} {load_schema(preset='asterisk').description}"
