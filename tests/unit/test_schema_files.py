"""Presets and schema files are validated at start-up, with every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.mapping.presets import load_schema, preset_names


@pytest.mark.parametrize("name", ["active-directory", "openldap"])
def test_shipped_presets_are_valid(name: str) -> None:
    schema = load_schema(preset=name)
    assert schema.accounts


def test_presets_are_listed() -> None:
    assert {"active-directory", "openldap"} <= set(preset_names())


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_schema(preset="exchange")
    assert caught.value.problems == ["preset: unknown preset 'exchange' (known: active-directory, openldap)"]


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
    problems = caught.value.problems
    assert len(problems) == 3
    assert all(problem.startswith(f"{path}: accounts[1]") for problem in problems)
    text = "\n".join(problems)
    assert "sipusername: give exactly one of value, attribute, member_of (given: value, attribute)" in text
    assert "transport: 'QUIC' is not one of UDP, TCP, TLS" in text
    assert "accounts[1].colour: Extra inputs are not permitted" in text


def test_flag_literal_must_be_enabled_or_disabled(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[[accounts]]\nsipusername = "1"\nsippassword = "s"\ntransport = "UDP"\nvideo = "yes"\n')
    with pytest.raises(ConfigError, match="video: 'yes' must be 'Enabled' or 'Disabled'"):
        load_schema(file=path)


def test_schema_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[accounts]\n")
    with pytest.raises(ConfigError) as caught:
        load_schema(file=path)
    assert caught.value.problems[0].startswith(f"{path}: not valid TOML: ")


def test_schema_without_accounts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text('description = "nothing"\n')
    with pytest.raises(ConfigError, match="accounts: Field required"):
        load_schema(file=path)
