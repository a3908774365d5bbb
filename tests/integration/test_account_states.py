"""Disabled, expired, locked and must-change accounts at enrolment, against the real servers.

DESIGN §3 and §6: until the caller has proven the password, every refusal is the same generic
answer (wrong password, unknown user, disabled, locked, account expired). Only the right
password earns a message that says what to do (must change / password expired). States the
service account's search shows (disabled, account expired, AD lockout, OpenLDAP admin lock) are
refused without a bind, so the gateway never adds a failed logon to such an account.

Each test makes a user of its own and puts it in the state; nothing domain-wide is changed (AD
password expiry comes from a fine-grained password policy applied to that user only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from .directory_admin import AdSandbox, AdUser, OpenLdapSandbox, filetime, ldaps_connection
from .gateway_under_test import (
    LOGIN_FAILED,
    MUST_CHANGE,
    PASSWORD_EXPIRED,
    PhoneFor,
    ad_settings,
    openldap_settings,
)

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import OpenLdapServer, SambaServer

YESTERDAY = datetime.now(UTC) - timedelta(days=1)


# ---------------------------------------------------------------- Active Directory (Samba)


def ad_disable(sandbox: AdSandbox, user: AdUser) -> None:
    sandbox.admin.samba_tool("user", "disable", user.name)


def ad_expire_account(sandbox: AdSandbox, user: AdUser) -> None:
    sandbox.admin.replace(user.dn, accountExpires=str(filetime(YESTERDAY)))


def ad_require_password_change(sandbox: AdSandbox, user: AdUser) -> None:
    sandbox.admin.replace(user.dn, pwdLastSet="0")  # "User must change password at next logon"


def ad_deny_logon_hours(sandbox: AdSandbox, user: AdUser) -> None:
    """No allowed hour at all (logonHours: 21 bytes, one bit per hour of the week): a shift
    worker's evening, whatever the time the test runs."""
    sandbox.admin.replace(user.dn, logonHours=bytes(21))


def ad_deny_workstation(sandbox: AdSandbox, user: AdUser) -> None:
    sandbox.admin.replace(user.dn, userWorkstations="NOSUCHPC")


AD_STATES: dict[str, tuple[Callable[[AdSandbox, AdUser], None], dict[str, Any], bool]] = {
    # state: (how an admin (or an attacker) gets the account there, answer to the right password,
    #         whether the gateway may bind at all)
    "disabled": (ad_disable, LOGIN_FAILED, False),
    "account-expired": (ad_expire_account, LOGIN_FAILED, False),
    "locked": (AdSandbox.lock_out, LOGIN_FAILED, False),
    "must-change-password": (ad_require_password_change, MUST_CHANGE, True),
    "password-expired": (AdSandbox.expire_password, PASSWORD_EXPIRED, True),
    # Logon hours: the search does not show it, the bind says 530 (a restriction that lifts by
    # itself, handled like a lockout: the generic failure, even to the right password).
    "outside-logon-hours": (ad_deny_logon_hours, LOGIN_FAILED, True),
    "refused-at-this-workstation": (ad_deny_workstation, LOGIN_FAILED, True),  # userWorkstations: 531
}


@pytest.mark.parametrize("state", AD_STATES)
def test_ad_account_state_is_told_only_to_the_right_password(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox, state: str
) -> None:
    put_in_state, right_password_answer, binds = AD_STATES[state]
    user = ad_sandbox.user("5201")
    put_in_state(ad_sandbox, user)
    bad_before = ad_sandbox.bad_password_count(user)
    phone = phone_for(ad_settings(samba, store_settings))

    assert phone.provision(user.name, "Wrong-Pass9", reprovision=False) == LOGIN_FAILED
    assert phone.provision("nobody-" + user.name, user.password, reprovision=False) == LOGIN_FAILED
    assert phone.provision(user.name, user.password, reprovision=False) == right_password_answer
    # A state the search shows is refused without binding: no failed logon is added.
    assert ad_sandbox.bad_password_count(user) == (bad_before + 1 if binds else bad_before)


def test_ad_bind_sub_codes_are_measured_as_documented(samba: SambaServer, ad_sandbox: AdSandbox) -> None:
    # The facts ad.BIND_SUBCODES relies on, for each state: 533 / 701 / 775 / 773 / 532 / 530 / 531 only
    # with the right password (775 with any), 52e for a wrong one.
    expected = {"disabled": "533", "account-expired": "701", "locked": "775",
                "must-change-password": "773", "password-expired": "532",
                "outside-logon-hours": "530", "refused-at-this-workstation": "531"}  # fmt: skip
    measured = {}
    for state, (put_in_state, _, _) in AD_STATES.items():
        user = ad_sandbox.user("5202")
        put_in_state(ad_sandbox, user)
        measured[state] = bind_subcode(samba, user.upn, user.password)
        if state != "locked":
            assert bind_subcode(samba, user.upn, "Wrong-Pass9") == "52e", state
    assert measured == expected


def bind_subcode(samba: SambaServer, upn: str, password: str) -> str:
    try:
        ldaps_connection("localhost", samba.ldaps_port, samba.ca_cert, upn, password).unbind()
    except AssertionError as refused:
        message = str(refused)
        return message.split(", data ")[1][:3] if ", data " in message else message
    return "bound"


# ---------------------------------------------------------------- OpenLDAP


def openldap_admin_lock(sandbox: OpenLdapSandbox, uid: str) -> None:
    sandbox.replace(f"uid={uid},{sandbox.ou}", pwdAccountLockedTime="000001010000Z")


def openldap_lock_by_failures(sandbox: OpenLdapSandbox, uid: str) -> None:
    server = sandbox.admins[0].server
    for attempt in range(5):  # pwdMaxFailure of the default policy (tests/servers/openldap.sh)
        with pytest.raises(AssertionError):
            ldaps_connection("localhost", server.ldaps_port, server.ca_cert, f"uid={uid},{sandbox.ou}", f"bad{attempt}")


def openldap_require_password_change(sandbox: OpenLdapSandbox, uid: str) -> None:
    sandbox.replace(f"uid={uid},{sandbox.ou}", pwdReset="TRUE")


def openldap_expire_password(sandbox: OpenLdapSandbox, uid: str) -> None:
    # The script's "shortlived" policy (maximum age one day), and a password set in 2000.
    policy = f"cn=shortlived,ou=policies,{sandbox.admins[0].server.base_dn}"
    sandbox.replace(f"uid={uid},{sandbox.ou}", pwdPolicySubentry=policy, pwdChangedTime="20000101000000Z")


def openldap_expire_account(sandbox: OpenLdapSandbox, uid: str) -> None:
    sandbox.replace(f"uid={uid},{sandbox.ou}", pwdEndTime=YESTERDAY.strftime("%Y%m%d%H%M%SZ"))


OPENLDAP_STATES: dict[str, tuple[Callable[[OpenLdapSandbox, str], None], dict[str, Any], bool]] = {
    # state: (how it comes about, answer to the right password, whether a wrong password is
    #         recorded as a failed bind: only where the gateway binds and ppolicy counts it)
    "locked-by-administrator": (openldap_admin_lock, LOGIN_FAILED, False),
    # A lockout after failures may run out (pwdLockoutDuration), so the gateway binds; ppolicy
    # refuses a locked account before checking the password, and records nothing.
    "locked-by-failed-binds": (openldap_lock_by_failures, LOGIN_FAILED, False),
    "must-change-password": (openldap_require_password_change, MUST_CHANGE, True),
    # (the "shortlived" policy has no lockout, so ppolicy records no failures under it)
    "password-expired": (openldap_expire_password, PASSWORD_EXPIRED, False),
    # pwdEndTime passed: seen by the search, refused without a bind.
    "account-expired": (openldap_expire_account, LOGIN_FAILED, False),
}


@pytest.mark.parametrize("state", OPENLDAP_STATES)
def test_openldap_account_state_is_told_only_to_the_right_password(
    openldap: OpenLdapServer,
    store_settings: StoreSettings,
    phone_for: PhoneFor,
    openldap_sandbox: OpenLdapSandbox,
    state: str,
) -> None:
    put_in_state, right_password_answer, counted = OPENLDAP_STATES[state]
    user = openldap_sandbox.user("5203")
    put_in_state(openldap_sandbox, user.uid)
    failures_before = openldap_sandbox.failed_binds(user)
    phone = phone_for(openldap_settings([openldap], store_settings))

    assert phone.provision(user.uid, "wrong-pw", reprovision=False) == LOGIN_FAILED
    assert openldap_sandbox.failed_binds(user) == failures_before + (1 if counted else 0)
    assert phone.provision("nobody-" + user.uid, user.password, reprovision=False) == LOGIN_FAILED
    assert phone.provision(user.uid, user.password, reprovision=False) == right_password_answer
