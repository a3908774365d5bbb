"""The stale-password shield against real directories (DESIGN §6): after a password change, a
phone that keeps re-sending the old password costs the account at most one failed bind — and
without the shield the same phone locks the account, which is why the feature exists."""

from __future__ import annotations

import time
from typing import Any

from gateway.settings import AttemptsSettings, SecuritySettings, Settings, StoreSettings

from .conftest import OpenLdapServer, SambaServer
from .directory_admin import AdSandbox, OpenLdapSandbox, unique
from .gateway_under_test import SIGN_IN_AGAIN, PhoneFor, ad_settings, openldap_settings

CALLS = 200
LOCKOUT_BIT = 0x10  # msDS-User-Account-Control-Computed: UF_LOCKOUT


def without_shield(settings: Settings) -> Settings:
    """A naive gateway: every call binds the saved password, nothing limits the attempts."""
    return settings.model_copy(
        update={
            "security": SecuritySettings(stale_password_shield=False, failure_floor_ms=0),
            "attempts": AttemptsSettings(per_account="", per_source=""),
        }
    )


def with_shield(settings: Settings) -> Settings:
    return settings.model_copy(update={"security": SecuritySettings(failure_floor_ms=0)})


def strict_policy(sandbox: AdSandbox, user_name: str) -> None:
    """A fine-grained password policy of this test's own: lockout after 3 bad passwords, and no
    password history, so the DC's N-2 rule does not quietly forgive the old password."""
    policy = unique("pso-")
    sandbox.admin.samba_tool(
        "domain", "passwordsettings", "pso", "create", policy, "5",
        "--account-lockout-threshold=3", "--account-lockout-duration=30", "--reset-account-lockout-after=30",
        "--history-length=0", "--min-pwd-age=0", "--complexity=off",
    )  # fmt: skip
    sandbox._policies.append(policy)  # deleted with the sandbox
    sandbox.admin.samba_tool("domain", "passwordsettings", "pso", "apply", policy, user_name)


def stale_run(phone: Any, username: str, old_password: str) -> list[dict[str, Any]]:
    return [phone.foreground(username, old_password) for _ in range(CALLS)]


def test_ad_stale_password_costs_at_most_one_bad_password(
    samba: SambaServer, ad_sandbox: AdSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    user = ad_sandbox.user("4101")
    strict_policy(ad_sandbox, user.name)
    phone = phone_for(with_shield(ad_settings(samba, store_settings)))
    phone.enrol(user.name, user.password)
    ad_sandbox.admin.samba_tool("user", "setpassword", user.name, "--newpassword=Brand-New-Pass2")

    answers = stale_run(phone, user.name, user.password)

    assert answers.count(SIGN_IN_AGAIN) == 1
    assert answers[0] == SIGN_IN_AGAIN  # pwdLastSet moved: signed out without a bind
    assert all(a["update"] is False for a in answers[1:])
    print(f"\nAD, shield on: {CALLS} calls with the old password -> badPwdCount {ad_sandbox.bad_password_count(user)}")
    assert ad_sandbox.bad_password_count(user) <= 1
    computed = ad_sandbox.admin.read(user.dn, "msDS-User-Account-Control-Computed")
    assert not int(computed["msDS-User-Account-Control-Computed"][0]) & LOCKOUT_BIT
    assert phone.enrol(user.name, "Brand-New-Pass2")  # the user types the new password: back in


def test_ad_without_the_shield_the_same_phone_locks_the_account(
    samba: SambaServer, ad_sandbox: AdSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    user = ad_sandbox.user("4102")
    strict_policy(ad_sandbox, user.name)
    phone = phone_for(without_shield(ad_settings(samba, store_settings)))
    phone.enrol(user.name, user.password)
    ad_sandbox.admin.samba_tool("user", "setpassword", user.name, "--newpassword=Brand-New-Pass2")

    stale_run(phone, user.name, user.password)

    computed = ad_sandbox.admin.read(user.dn, "msDS-User-Account-Control-Computed")
    print(
        f"\nAD, shield off: badPwdCount {ad_sandbox.bad_password_count(user)}, lockout bit "
        f"{bool(int(computed['msDS-User-Account-Control-Computed'][0]) & LOCKOUT_BIT)}"
    )
    assert int(computed["msDS-User-Account-Control-Computed"][0]) & LOCKOUT_BIT, "the account should be locked"


def test_openldap_stale_password_costs_at_most_one_failed_bind(
    openldap: OpenLdapServer, openldap_sandbox: OpenLdapSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    user = openldap_sandbox.user("4201")
    phone = phone_for(with_shield(openldap_settings([openldap], store_settings)))
    phone.enrol(user.uid, user.password)
    time.sleep(1.1)  # pwdChangedTime has one-second granularity
    openldap_sandbox.change_own_password(user, "Brand-New-Pass2")

    answers = stale_run(phone, user.uid, user.password)

    assert answers.count(SIGN_IN_AGAIN) == 1
    assert answers[0] == SIGN_IN_AGAIN
    print(f"\nOpenLDAP, shield on: pwdFailureTime values {openldap_sandbox.failed_binds(user)}")
    assert openldap_sandbox.failed_binds(user) <= 1
    entry = openldap_sandbox.admins[0].conn
    entry.search(user.dn, "(objectClass=*)", "BASE", attributes=["pwdAccountLockedTime"])
    assert not entry.response[0]["attributes"].get("pwdAccountLockedTime")
    assert phone.enrol(user.uid, "Brand-New-Pass2")


def test_openldap_without_the_shield_the_same_phone_locks_the_account(
    openldap: OpenLdapServer, openldap_sandbox: OpenLdapSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    user = openldap_sandbox.user("4202")
    phone = phone_for(without_shield(openldap_settings([openldap], store_settings)))
    phone.enrol(user.uid, user.password)
    openldap_sandbox.change_own_password(user, "Brand-New-Pass2")

    stale_run(phone, user.uid, user.password)

    print(f"\nOpenLDAP, shield off: pwdFailureTime values {openldap_sandbox.failed_binds(user)}")
    entry = openldap_sandbox.admins[0].conn
    entry.search(user.dn, "(objectClass=*)", "BASE", attributes=["pwdAccountLockedTime"])
    assert entry.response[0]["attributes"].get("pwdAccountLockedTime"), "ppolicy should have locked the account"
