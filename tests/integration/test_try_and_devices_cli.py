"""``try`` and ``devices --user`` against the real servers (issue 13, defects 7 and 9).

``try``'s exit status is 0 only when the user's phone would get at least one account: every
account state that refuses a sign-in exits 1, whether the search shows it or only the bind does.
``devices --user`` takes any login form, the DN or the user key, resolves it to the directory
user, and acts on every phone of that user, whatever login each phone signed in with.
"""

from __future__ import annotations

import argparse
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from gateway.cli import devices as devices_cli
from gateway.cli import try_user
from gateway.directory.ad import guid_to_str
from gateway.settings import MessagesSettings

from .directory_admin import read_entry
from .gateway_under_test import PhoneFor, ad_settings, answer, openldap_settings
from .test_account_states import AD_STATES, OPENLDAP_STATES

if TYPE_CHECKING:
    from gateway.settings import Settings, StoreSettings

    from .conftest import OpenLdapServer, SambaServer
    from .directory_admin import AdSandbox, OpenLdapSandbox

REVOKED = answer(True, MessagesSettings().revoked)


def try_exit_status(settings: Settings, username: str, password: str | None) -> int:
    args = argparse.Namespace(username=username, password_stdin=password is not None, json=False)
    stdin = io.StringIO(f"{password}\n") if password is not None else None
    return try_user.run(args, settings, None, stdin=stdin)


def devices(settings: Settings, action: str, user: str, *, json_output: bool = True) -> Any:
    run = {"list": devices_cli._list, "revoke": devices_cli._revoke}[action]
    return run(argparse.Namespace(user=user, device=None, json=json_output), settings, None)


def listed_device_ids(capsys: pytest.CaptureFixture[str], settings: Settings, user: str) -> list[str]:
    capsys.readouterr()
    assert devices(settings, "list", user) == 0
    return sorted(device["device_id"] for device in json.loads(capsys.readouterr().out))


# ---------------------------------------------------------------- try: exit status per state


@pytest.mark.parametrize("state", ["active", *OPENLDAP_STATES])
def test_try_exits_0_only_when_the_openldap_user_would_get_an_account(
    openldap: OpenLdapServer,
    store_settings: StoreSettings,
    openldap_sandbox: OpenLdapSandbox,
    capsys: pytest.CaptureFixture[str],
    state: str,
) -> None:
    user = openldap_sandbox.user("5401")
    if state != "active":
        OPENLDAP_STATES[state][0](openldap_sandbox, user.uid)
    settings = openldap_settings([openldap], store_settings)
    expected = 0 if state == "active" else 1
    assert try_exit_status(settings, user.uid, user.password) == expected, capsys.readouterr().out
    if state in ("locked-by-administrator", "account-expired", "must-change-password"):  # the search shows these
        assert try_exit_status(settings, user.uid, None) == 1, capsys.readouterr().out


@pytest.mark.parametrize("state", ["active", *AD_STATES])
def test_try_exits_0_only_when_the_ad_user_would_get_an_account(
    samba: SambaServer,
    store_settings: StoreSettings,
    ad_sandbox: AdSandbox,
    capsys: pytest.CaptureFixture[str],
    state: str,
) -> None:
    user = ad_sandbox.user("5402")
    if state != "active":
        AD_STATES[state][0](ad_sandbox, user)
    settings = ad_settings(samba, store_settings)
    expected = 0 if state == "active" else 1
    assert try_exit_status(settings, user.name, user.password) == expected, capsys.readouterr().out


# ---------------------------------------------------------------- devices --user


def test_devices_user_covers_every_login_of_the_openldap_user(
    openldap: OpenLdapServer,
    store_settings: StoreSettings,
    phone_for: PhoneFor,
    openldap_sandbox: OpenLdapSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = openldap_sandbox.user("5403")
    other = openldap_sandbox.user("5404")
    settings = openldap_settings([openldap], store_settings)
    phone = phone_for(settings)
    phone.enrol(user.uid, user.password, device="desk-phone")
    phone.enrol(user.mail, user.password, device="tablet")  # the same person, another login form
    phone.enrol(other.uid, other.password, device="other-phone")
    key = read_entry(openldap_sandbox.admins[0].conn, user.dn, ["entryUUID"])["entryUUID"][0].decode()

    for typed in (user.uid, user.mail, user.mail.upper(), user.dn, key):
        assert listed_device_ids(capsys, settings, typed) == ["desk-phone", "tablet"], typed

    # The text list names the directory user once, each phone with the login it uses.
    assert devices(settings, "list", user.uid, json_output=False) == 0
    out = capsys.readouterr().out
    assert out.count(user.dn) == 1 and f"as {user.mail}" in out and f"as {user.uid}" in out
    assert "other-phone" not in out

    assert devices(settings, "revoke", user.uid) == 0
    assert json.loads(capsys.readouterr().out) == {"changed": 2}
    assert phone.foreground(user.mail, user.password, device="tablet") == REVOKED
    assert listed_device_ids(capsys, settings, other.uid) == ["other-phone"]  # untouched


def test_devices_user_falls_back_to_the_recorded_login_and_says_so_when_the_directory_is_down(
    openldap: OpenLdapServer,
    store_settings: StoreSettings,
    phone_for: PhoneFor,
    openldap_sandbox: OpenLdapSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = openldap_sandbox.user("5405")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password, device="desk-phone")
    phone.enrol(user.mail, user.password, device="tablet")
    down = openldap_settings([openldap], store_settings, servers=("ldaps://localhost:1",), connect_timeout=1)
    capsys.readouterr()
    assert devices(down, "list", user.mail) == 0
    captured = capsys.readouterr()
    assert [d["device_id"] for d in json.loads(captured.out)] == ["tablet"]
    assert "directory not reachable" in captured.err and f"matching {user.mail!r} as recorded" in captured.err


def test_devices_user_covers_every_login_of_the_ad_user(
    samba: SambaServer,
    store_settings: StoreSettings,
    phone_for: PhoneFor,
    ad_sandbox: AdSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = ad_sandbox.user("5406")
    settings = ad_settings(samba, store_settings)
    phone = phone_for(settings)
    phone.enrol(user.name, user.password, device="desk-phone")
    phone.enrol(user.upn, user.password, device="tablet")
    phone.enrol(f"{samba.domain}\\{user.name}", user.password, device="softphone")
    guid = guid_to_str(ad_sandbox.admin.read(user.dn, "objectGUID")["objectGUID"][0])

    for typed in (user.name, user.upn, f"{samba.domain}\\{user.name}", user.dn, guid):
        assert listed_device_ids(capsys, settings, typed) == ["desk-phone", "softphone", "tablet"], typed

    assert devices(settings, "revoke", user.upn) == 0
    assert json.loads(capsys.readouterr().out) == {"changed": 3}
    assert phone.foreground(user.name, user.password, device="desk-phone") == REVOKED
