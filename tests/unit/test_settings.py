"""Settings: one TOML file plus GATEWAY_ environment variables; bad input lists every problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings

GOOD = """
[server]
port = 9090

[directory]
servers = ["ldaps://dc1.corp.example", "ldaps://dc2.corp.example"]
base_dn = "DC=corp,DC=example"
bind_dn = "CN=svc-gateway,OU=Service Accounts,DC=corp,DC=example"
bind_password = "S3rvice!Secret"
required_groups = ["CN=Phone Users,OU=Groups,DC=corp,DC=example"]

[messages]
login_failed = "Sign-in failed. Call the helpdesk on x1234."
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the host's GATEWAY_ variables."""
    import os

    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    return caught.value.problems


def test_good_file_loads_with_defaults_for_the_rest(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), {})
    assert settings.server.port == 9090
    assert settings.server.host == "127.0.0.1"
    assert settings.directory.servers == ("ldaps://dc1.corp.example", "ldaps://dc2.corp.example")
    assert settings.directory.bind_password.get_secret_value() == "S3rvice!Secret"
    assert settings.messages.login_failed == "Sign-in failed. Call the helpdesk on x1234."
    assert settings.mapping.attribute_schema.directory.flavour == "active-directory"


def test_environment_overrides_the_file_with_double_underscore_nesting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_DIRECTORY__BIND_PASSWORD", "from-env")
    monkeypatch.setenv("GATEWAY_SERVER__THREADS", "3")
    settings = load_settings(write(tmp_path, GOOD), {})
    assert settings.directory.bind_password.get_secret_value() == "from-env"
    assert settings.server.threads == 3


def test_config_path_from_gateway_config_variable(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    settings = load_settings(None, {"GATEWAY_CONFIG": str(path)})
    assert settings.server.port == 9090


def test_unknown_keys_are_rejected_at_top_level_and_in_nested_tables(tmp_path: Path) -> None:
    text = GOOD.replace("[server]", "[sever]\nport = 1\n[server]").replace("[messages]", "[messages]\nhelpdesk = 'x'")
    problems = problems_of(write(tmp_path, text))
    assert f"{tmp_path / 'gateway.toml'}: sever: Extra inputs are not permitted" in problems
    assert f"{tmp_path / 'gateway.toml'}: messages.helpdesk: Extra inputs are not permitted" in problems


def test_unknown_nested_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DIRECTORY__BIND_PASWORD", "typo")
    problems = problems_of(write(tmp_path, GOOD), {"GATEWAY_DIRECTORY__BIND_PASWORD": "typo"})
    assert problems == [
        "environment variable GATEWAY_DIRECTORY__BIND_PASWORD: directory.bind_pasword: Extra inputs are not permitted"
    ]


def test_bad_file_lists_every_problem_at_once(tmp_path: Path) -> None:
    text = """
[server]
port = "eighty"
threads = 0

[directory]
servers = ["ldap://dc1.corp.example", "http://dc2"]
bind_password = "hunter2-secret"
colour = "blue"

[mapping]
preset = "exchange"
"""
    problems = problems_of(write(tmp_path, text))
    keys = [problem.split(": ")[1] for problem in problems]
    assert keys == [
        "server.port",
        "server.threads",
        "directory.colour",
        "mapping.preset",
        "directory.servers",
        "directory.servers",
        "directory.bind_dn",
        "directory.base_dn",
    ]
    assert any("sends passwords in clear" in p for p in problems)
    assert any("'http://dc2' is not an ldap:// or ldaps:// URL" in p for p in problems)


def test_problems_never_echo_secret_values(tmp_path: Path) -> None:
    text = GOOD.replace('bind_password = "S3rvice!Secret"', 'bind_password = ["S3rvice!Secret"]')
    text = text.replace("port = 9090", 'port = "S3rvice!Secret"')
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 2
    assert not any("S3rvice!Secret" in problem for problem in problems)


def test_secrets_are_masked_in_repr_and_dumps(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), {})
    assert "S3rvice!Secret" not in repr(settings)
    assert "S3rvice!Secret" not in settings.model_dump_json()


def test_plain_ldap_is_allowed_only_when_said_explicitly(settings_for: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="sends passwords in clear"):
        settings_for(servers=("ldap://dc1.example.test",))
    assert settings_for(servers=("ldap://dc1.example.test",), start_tls=True).directory.start_tls
    assert settings_for(servers=("ldap://dc1.example.test",), allow_plain_ldap=True).directory.allow_plain_ldap


def test_direct_mode_needs_a_template_not_a_service_account() -> None:
    settings = Settings(
        directory={
            "servers": ["ldaps://dc"],
            "mode": "direct",  # type: ignore[arg-type]
            "direct_bind_template": "{username}@corp.example",
        }
    )
    assert settings.directory.mode == "direct"


def test_file_that_is_not_toml_is_reported_with_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, "[directory\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: not valid TOML")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.toml")
    assert problems == [f"{tmp_path / 'absent.toml'}: cannot read configuration file (No such file or directory)"]
