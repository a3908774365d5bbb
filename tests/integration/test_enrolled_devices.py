"""What an enrolled phone gets on its next call after an admin changes the directory (DESIGN §3).

Disabled, deleted, account expired, no longer in the required group, line removed: the phone is
signed out (``update=true``, no accounts, the signed-out message). A lockout is temporary and
may be an attacker's doing, so it never signs a phone out. A directory that looks wrong (a search
base that exists but holds no users) is treated as an outage: nobody is signed out. A password
changed in the directory signs the phone out without a bind, so the stale saved password never
counts as a failed logon (§6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .directory_admin import read_entry
from .gateway_under_test import (
    LOGIN_FAILED,
    SIGN_IN_AGAIN,
    SIGNED_OUT,
    UNAVAILABLE,
    UNCHANGED,
    PhoneFor,
    ad_lines,
    ad_settings,
    answer,
    openldap_lines,
    openldap_settings,
)
from .test_account_states import (
    YESTERDAY,
    ad_deny_logon_hours,
    ad_deny_workstation,
    ad_expire_account,
    openldap_admin_lock,
    openldap_expire_account,
    openldap_lock_by_failures,
)

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import OpenLdapServer, SambaServer
    from .directory_admin import AdSandbox, OpenLdapSandbox


# ---------------------------------------------------------------- Active Directory (Samba)


def test_ad_user_disabled_after_enrolment_is_signed_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5301")
    phone = phone_for(ad_settings(samba, store_settings))
    assert phone.enrol(user.name, user.password) == ad_lines("5301", user.secret)
    assert phone.foreground(user.name, user.password) == UNCHANGED

    ad_sandbox.admin.samba_tool("user", "disable", user.name)

    assert phone.foreground(user.name, user.password) == SIGNED_OUT
    # Signed out: the next call is a fresh enrolment, refused like any other before a bind.
    assert phone.foreground(user.name, user.password) == LOGIN_FAILED
    assert ad_sandbox.bad_password_count(user) == 0


def test_ad_user_removed_from_the_required_group_is_signed_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    phones_group = ad_sandbox.group()
    user = ad_sandbox.user("5302", groups=[phones_group])
    phone = phone_for(ad_settings(samba, store_settings, required_groups=(phones_group,)))
    phone.enrol(user.name, user.password)

    group_name = phones_group.split(",")[0].removeprefix("CN=")
    ad_sandbox.admin.samba_tool("group", "removemembers", group_name, user.name)

    assert phone.foreground(user.name, user.password) == SIGNED_OUT


def test_ad_user_deleted_after_enrolment_is_signed_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5303")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.upn, user.password)

    ad_sandbox.admin.samba_tool("user", "delete", user.name)

    assert phone.foreground(user.upn, user.password) == SIGNED_OUT


def test_ad_account_expired_after_enrolment_is_signed_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5304")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_expire_account(ad_sandbox, user)
    assert phone.foreground(user.name, user.password) == SIGNED_OUT


def test_ad_line_removed_after_enrolment_signs_the_phone_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5305")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_sandbox.admin.clear(user.dn, "ipPhone")
    assert phone.foreground(user.name, user.password) == SIGNED_OUT


def test_ad_new_line_reaches_the_enrolled_phone(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5306")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_sandbox.admin.replace(user.dn, otherIpPhone="95306")
    assert phone.foreground(user.name, user.password) == answer(True, accounts=ad_lines("5306", user.secret, "95306"))
    assert phone.foreground(user.name, user.password) == UNCHANGED


def test_ad_locked_out_user_keeps_the_lines_on_an_enrolled_phone(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    # Anyone who knows a user name can lock the account with wrong passwords: a lockout must
    # not take the user's phone away. The phone keeps what it has, and no bind is made.
    user = ad_sandbox.user("5307")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_sandbox.lock_out(user)
    assert phone.foreground(user.name, user.password) == UNCHANGED
    assert ad_sandbox.bad_password_count(user) == 5


def test_ad_user_outside_logon_hours_keeps_the_lines_on_an_enrolled_phone(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    # A shift worker's evening: AD refuses the bind (530) until the hours allow it again. That is
    # no leaver: the phone keeps its lines and sees no error; a new phone gets the generic failure.
    user = ad_sandbox.user("5311")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_deny_logon_hours(ad_sandbox, user)
    assert phone.foreground(user.name, user.password) == UNCHANGED
    assert phone.foreground(user.name, user.password) == UNCHANGED
    assert phone.provision(user.name, user.password, device="new-phone", reprovision=False) == LOGIN_FAILED
    ad_sandbox.admin.clear(user.dn, "logonHours")
    assert phone.foreground(user.name, user.password) == UNCHANGED  # still enrolled, nothing re-created


def test_ad_user_refused_at_this_workstation_keeps_the_lines_on_an_enrolled_phone(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5312")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    ad_deny_workstation(ad_sandbox, user)
    assert phone.foreground(user.name, user.password) == UNCHANGED


def test_ad_password_changed_in_the_directory_signs_the_phone_out_without_a_failed_bind(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5308")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)

    ad_sandbox.admin.samba_tool("user", "setpassword", user.name, "--newpassword=Changed-Pass2")

    assert phone.foreground(user.name, user.password) == SIGN_IN_AGAIN
    assert ad_sandbox.bad_password_count(user) == 0  # the stale password was never tried
    assert phone.foreground(user.name, "Changed-Pass2") == answer(True, accounts=ad_lines("5308", user.secret))


def test_ad_search_base_that_holds_no_users_signs_no_phone_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5309")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)

    empty_ou = f"OU=empty,{ad_sandbox.ou}"
    ad_sandbox.admin.add(empty_ou, ["top", "organizationalUnit"], {})
    misconfigured = phone_for(ad_settings(samba, store_settings, base_dn=empty_ou))
    for _ in range(3):
        assert misconfigured.foreground(user.name, user.password) == UNAVAILABLE

    assert phone.foreground(user.name, user.password) == UNCHANGED  # still enrolled


def test_ad_search_base_that_does_not_exist_signs_no_phone_out(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ad_sandbox: AdSandbox
) -> None:
    user = ad_sandbox.user("5310")
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol(user.name, user.password)
    misconfigured = phone_for(ad_settings(samba, store_settings, base_dn=f"OU=gone,{ad_sandbox.ou}"))
    assert misconfigured.foreground(user.name, user.password) == UNAVAILABLE
    assert phone.foreground(user.name, user.password) == UNCHANGED


# ---------------------------------------------------------------- OpenLDAP


def test_openldap_user_removed_from_the_required_group_is_signed_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    user = openldap_sandbox.user("5311")
    other = openldap_sandbox.user("5312")
    phones_group = openldap_sandbox.group(user.dn, other.dn)
    phone = phone_for(openldap_settings([openldap], store_settings, required_groups=(phones_group,)))
    assert phone.enrol(user.uid, user.password) == openldap_lines("5311", user.secret)

    openldap_sandbox.remove_member(phones_group, user.dn)

    assert phone.foreground(user.uid, user.password) == SIGNED_OUT


def test_openldap_user_deleted_after_enrolment_is_signed_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    user = openldap_sandbox.user("5313")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.mail, user.password)
    admin = openldap_sandbox.admins[0]
    assert admin.conn.delete(user.dn), admin.conn.result
    assert phone.foreground(user.mail, user.password) == SIGNED_OUT


def test_openldap_account_expired_after_enrolment_is_signed_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    # pwdEndTime (ppolicy, OpenLDAP 2.5) is the account's end date, like AD's accountExpires.
    user = openldap_sandbox.user("5314")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)
    openldap_expire_account(openldap_sandbox, user.uid)
    assert phone.foreground(user.uid, user.password) == SIGNED_OUT


def test_openldap_line_removed_after_enrolment_signs_the_phone_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    user = openldap_sandbox.user("5318")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)
    openldap_sandbox.replace(user.dn, sipExtension=None)
    assert phone.foreground(user.uid, user.password) == SIGNED_OUT


def test_openldap_admin_locked_user_is_signed_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    # pwdAccountLockedTime 000001010000Z: an administrator's permanent lock, OpenLDAP's "disabled".
    user = openldap_sandbox.user("5315")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)
    openldap_admin_lock(openldap_sandbox, user.uid)
    assert phone.foreground(user.uid, user.password) == SIGNED_OUT
    assert phone.foreground(user.uid, user.password) == LOGIN_FAILED
    assert openldap_sandbox.failed_binds(user) == 0  # refused without a bind


def test_openldap_user_locked_by_failed_binds_keeps_the_lines_on_an_enrolled_phone(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    # A lockout after failed binds carries the time it happened (measured on slapd 2.5, even with
    # pwdLockoutDuration 0) and may be an attacker's doing: like AD's lockout it keeps the lines.
    user = openldap_sandbox.user("5319")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)
    openldap_lock_by_failures(openldap_sandbox, user.uid)
    locked_time = read_entry(openldap_sandbox.admins[0].conn, user.dn, ["pwdAccountLockedTime"])
    assert locked_time["pwdAccountLockedTime"][0] != b"000001010000Z"
    assert phone.foreground(user.uid, user.password) == UNCHANGED
    assert phone.provision(user.uid, user.password, device="new-phone", reprovision=False) == LOGIN_FAILED


def test_openldap_password_changed_in_the_directory_signs_the_phone_out_without_a_failed_bind(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    # pwdChangedTime counts whole seconds: the user's password was set yesterday.
    user = openldap_sandbox.user("5316", pwdChangedTime=YESTERDAY.strftime("%Y%m%d%H%M%SZ"))
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)

    openldap_sandbox.change_own_password(user, "new-pw-5316")

    assert phone.foreground(user.uid, user.password) == SIGN_IN_AGAIN
    assert openldap_sandbox.failed_binds(user) == 0  # the stale password was never tried
    assert phone.foreground(user.uid, "new-pw-5316") == answer(True, accounts=openldap_lines("5316", user.secret))


def test_openldap_search_base_that_holds_no_users_signs_no_phone_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox
) -> None:
    user = openldap_sandbox.user("5317")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)

    empty_ou = f"ou=empty,{openldap_sandbox.ou}"
    openldap_sandbox.admins[0].add(empty_ou, ["organizationalUnit"], {})
    misconfigured = phone_for(openldap_settings([openldap], store_settings, base_dn=empty_ou))
    for _ in range(3):
        assert misconfigured.foreground(user.uid, user.password) == UNAVAILABLE

    assert phone.foreground(user.uid, user.password) == UNCHANGED
