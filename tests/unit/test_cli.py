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


def test_check_names_a_missing_store_without_creating_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[directory]\nservers = ["ldaps://127.0.0.1:1"]\nbase_dn = "dc=x"\nbind_dn = "cn=svc,dc=x"\n'
        'bind_password = "pw"\nconnect_timeout = 1\n[store]\nsqlite_path = "absent.sqlite3"\n'
    )
    code, out, _ = run(capsys, "check", "--config", str(config))
    assert code == 1
    assert "[FAIL] device store" in out and "absent.sqlite3 does not exist -> run `python -m gateway migrate`" in out
    assert not (tmp_path / "absent.sqlite3").exists()


def test_migrate_then_check_reports_the_store_and_the_safety_valve(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_STORE__URL", f"sqlite:///{tmp_path / 'devices.sqlite3'}")
    code, out, _ = run(capsys, "migrate", "--demo-directory", str(demo_ldif))
    assert code == 0 and "-> 0003" in out
    code, out, _ = run(capsys, "check", "--demo-directory", str(demo_ldif))
    assert code == 0
    assert "[  ok] device store" in out and "schema 0003" in out
    assert "[  ok] safety valve" in out


def test_check_fails_loudly_while_sign_outs_are_held(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.store.engine import create_store_engine
    from gateway.store.revisions import upgrade
    from gateway.store.sql import SqlDeviceStore

    url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
    monkeypatch.setenv("GATEWAY_STORE__URL", url)
    engine = create_store_engine(url)
    upgrade(engine)
    SqlDeviceStore(engine).run(lambda tx: tx.trip_valve("25 sign-outs within 600 s (limit 20)"))
    code, out, _ = run(capsys, "check", "--demo-directory", str(demo_ldif))
    assert code == 1
    assert "[FAIL] safety valve" in out and "SIGN-OUTS HELD: 25 sign-outs within 600 s (limit 20)" in out
    code, out, _ = run(capsys, "devices", "release-sign-outs", "--demo-directory", str(demo_ldif))
    assert code == 0 and "sign-outs released" in out
    code, out, _ = run(capsys, "check", "--demo-directory", str(demo_ldif))
    assert code == 0
    engine.dispose()


def test_devices_and_events_commands(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from falcon.testing import TestClient

    from gateway.app import build_directory, create_app
    from gateway.demo.settings import demo_factory, demo_settings

    monkeypatch.setenv("GATEWAY_STORE__URL", f"sqlite:///{tmp_path / 'devices.sqlite3'}")
    run(capsys, "migrate", "--demo-directory", str(demo_ldif))
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory)
    client = TestClient(create_app(settings, directory=build_directory(settings, factory)))
    client.simulate_get(
        "/provisioning",
        params={"username": "jbloggs", "password": "7578743843", "reprovision": "false", "deviceId": "phone-9"},
    )
    code, out, _ = run(capsys, "devices", "list", "--demo-directory", str(demo_ldif))
    assert code == 0 and "jbloggs" in out and "phone-9" in out and "enrolled" in out
    code, out, _ = run(capsys, "devices", "force-update", "--user", "jbloggs", "--demo-directory", str(demo_ldif))
    assert (code, out.strip()) == (0, "update forced: 1 device(s)")
    code, out, _ = run(capsys, "devices", "revoke", "--device", "phone-9", "--json", "--demo-directory", str(demo_ldif))
    assert (code, out.strip()) == (0, '{"changed": 1}')
    code, out, _ = run(capsys, "devices", "list", "--json", "--demo-directory", str(demo_ldif))
    listed = __import__("json").loads(out)
    assert [(d["login"], d["status"], d["force_update"]) for d in listed] == [("jbloggs", "revoked", True)]
    assert "account_fingerprint" not in listed[0]
    code, out, _ = run(capsys, "events", "--outcome", "enrolled", "--demo-directory", str(demo_ldif))
    assert code == 0 and "enrolled" in out and "phone-9" in out
    assert "7578743843" not in out
    code, out, _ = run(capsys, "devices", "prune", "--older-than", "30", "--demo-directory", str(demo_ldif))
    assert out.strip() == "removed 0 device(s) not seen for 30 days"


@pytest.mark.parametrize(
    ("state", "added"),
    [
        ("disabled", "pwdAccountLockedTime: 000001010000Z\n"),  # an administrator's lock
        ("expired", "pwdEndTime: 20000101000000Z\n"),
        ("must_change_password", "pwdReset: TRUE\n"),
    ],
)
def test_try_exits_1_for_a_user_whose_account_state_gives_no_account(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, state: str, added: str
) -> None:
    # docs/cli.md: exit status 0 only when the user would get at least one account.
    text = demo_ldif.read_text()
    demo_ldif.write_text(text.replace("uid: jbloggs\n", "uid: jbloggs\n" + added, 1))
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "jbloggs")
    assert code == 1
    assert f"state      {state}" in out
    assert f"result     nothing (account {state})" in out


def test_try_exits_1_when_the_password_is_refused(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong-password\n"))
    code, out, _ = run(capsys, "try", "--demo-directory", str(demo_ldif), "jbloggs", "--password-stdin")
    assert code == 1
    assert "result     nothing (bind REFUSED: InvalidCredentials)" in out


def test_try_prints_the_groups_it_tests_sorted(demo_ldif: Path) -> None:
    from gateway.app import build_directory
    from gateway.demo.settings import demo_factory, demo_settings
    from gateway.provisioning.preview import preview

    factory = demo_factory(demo_ldif)
    base = demo_settings(factory)
    groups = ("cn=zulu,ou=groups,dc=example,dc=com", "cn=Alpha,ou=groups,dc=example,dc=com")
    directory = base.directory.model_copy(update={"required_groups": groups, "denied_groups": ("cn=mike,dc=x",)})
    settings = base.model_copy(update={"directory": directory})
    shown = list(preview(settings, build_directory(settings, factory), "jbloggs", None).groups)
    assert shown == sorted(shown, key=str.lower)
    assert len(shown) == 4  # the three configured and the schema's video-users
