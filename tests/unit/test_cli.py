"""The admin's commands: check, try; a bad configuration refuses to start and says why."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway import cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_demo_passes(capsys: pytest.CaptureFixture[str], demo_ldif: Path) -> None:
    code, out, _ = run(capsys, "check", "--demo-directory", str(demo_ldif))
    assert code == 0
    assert "[  ok] demo directory" in out
    assert out.rstrip().endswith("all checks passed")


def test_bad_config_exits_2_listing_every_problem_without_secrets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[directory]\nservers = ["ldap://dc"]\nbind_password = "Sup3r-Secret"\nbogus = 1\n')
    code, out, err = run(capsys, "serve", "--config", str(config))
    assert code == 2
    assert out == ""
    assert "directory.bogus: Extra inputs are not permitted" in err
    assert "directory.servers: 'ldap://dc' sends passwords in clear" in err
    assert "directory.bind_dn: required in search mode" in err
    assert "Sup3r-Secret" not in err


def test_check_reports_unreachable_server_and_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[directory]\nservers = ["ldaps://127.0.0.1:1"]\nbase_dn = "dc=x"\nbind_dn = "cn=svc,dc=x"\n'
        'bind_password = "pw-never-shown"\nconnect_timeout = 1\n'
    )
    code, out, _ = run(capsys, "check", "--config", str(config))
    assert code == 1
    assert "[FAIL] ldaps://127.0.0.1:1" in out
    assert "nothing listens there" in out
    assert "pw-never-shown" not in out


def test_try_previews_accounts_with_secrets_masked(capsys: pytest.CaptureFixture[str], demo_ldif: Path) -> None:
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "jbloggs")
    assert code == 0
    assert "uid=jbloggs,ou=people,dc=example,dc=com" in out
    assert "'sippassword': '********'" in out
    assert "29de?8-jb" not in out
    assert "bind       not tested" in out


def test_try_with_password_from_stdin_tests_the_bind(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong-password\n"))
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "jbloggs", "--password-stdin")
    assert "bind       REFUSED: InvalidCredentials" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("7578743843\n"))
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "jbloggs", "--password-stdin")
    assert code == 0
    assert "bind       ok: password accepted" in out
    assert "7578743843" not in out


def test_try_unknown_user_exits_1(capsys: pytest.CaptureFixture[str], demo_ldif: Path) -> None:
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "nobody")
    assert code == 1
    assert "no matching directory entry" in out


def test_try_not_entitled_user_says_so(capsys: pytest.CaptureFixture[str], demo_ldif: Path) -> None:
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "tguest")
    assert code == 1
    assert "entitled   NO" in out
    assert "not in    cn=phone-users,ou=groups,dc=example,dc=com" in out
