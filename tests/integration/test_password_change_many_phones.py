"""A password change seen from several phones of one user, on a real slapd (DESIGN §6: at most
one failed bind per user per password change, however many phones the user has).

Two shapes of directory a new admin meets: entries loaded with plain ``ldapadd`` under a policy
without ``pwdMaxAge`` carry no ``pwdChangedTime`` until the first password change, and an ACL may
hide ``pwdChangedTime`` from the service account altogether (as FreeIPA or the ``generic``
flavour do: no marker at all).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from gateway.settings import SecuritySettings, Settings, StoreSettings

from .conftest import OpenLdapServer
from .directory_admin import OpenLdapSandbox, OpenLdapUser
from .gateway_under_test import SIGN_IN_AGAIN, Phone, PhoneFor, openldap_settings

NEW_PASSWORD = "Brand-New-Pass2"


def shielded(server: OpenLdapServer, store: StoreSettings) -> Settings:
    """The gateway as shipped (shield on, attempt limit 3 per 15 minutes), without the floor."""
    settings = openldap_settings([server], store)
    return settings.model_copy(update={"security": SecuritySettings(failure_floor_ms=0)})


def user_loaded_without_marker(sandbox: OpenLdapSandbox) -> OpenLdapUser:
    """A user as ``ldapadd`` leaves it under a policy without ``pwdMaxAge``: no pwdChangedTime."""
    user = sandbox.user("4301")
    sandbox.replace(user.dn, pwdChangedTime=None)
    return user


def phones_enrolled(phone: Phone, user: OpenLdapUser, count: int) -> list[str]:
    devices = [f"phone-{n}" for n in range(1, count + 1)]
    for device in devices:
        phone.enrol(user.uid, user.password, device=device)
    return devices


def modify_config(server: OpenLdapServer, ldif: str) -> None:
    """Change slapd's cn=config as root over ldapi (the test slapd lets root manage it)."""
    subprocess.run(
        ["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", server.ldapi_url],
        input=ldif,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )


@pytest.fixture
def marker_hidden(openldap: OpenLdapServer, openldap_sandbox: OpenLdapSandbox) -> Iterator[None]:
    """An ACL that hides pwdChangedTime in this test's OU from the service account."""
    database = "olcDatabase={1}mdb,cn=config"
    rule = (
        f'{{0}}to dn.subtree="{openldap_sandbox.ou}" attrs=pwdChangedTime'
        f' by dn.exact="{openldap.svc_dn}" none by * break'
    )
    modify_config(openldap, f"dn: {database}\nchangetype: modify\nadd: olcAccess\nolcAccess: {rule}\n")
    try:
        yield
    finally:
        modify_config(openldap, f"dn: {database}\nchangetype: modify\ndelete: olcAccess\nolcAccess: {{0}}\n")


@pytest.mark.parametrize("phones", [1, 5])
def test_a_marker_that_appears_signs_every_phone_out_without_a_bind(
    openldap: OpenLdapServer,
    openldap_sandbox: OpenLdapSandbox,
    phone_for: PhoneFor,
    store_settings: StoreSettings,
    phones: int,
) -> None:
    user = user_loaded_without_marker(openldap_sandbox)
    phone = phone_for(shielded(openldap, store_settings))
    devices = phones_enrolled(phone, user, phones)
    openldap_sandbox.change_own_password(user, NEW_PASSWORD)  # ppolicy stamps pwdChangedTime now

    answers = [phone.foreground(user.uid, user.password, device=device) for device in devices]

    assert answers == [SIGN_IN_AGAIN] * phones
    print(f"\n{phones} phone(s), marker absent -> present: pwdFailureTime {openldap_sandbox.failed_binds(user)}")
    assert openldap_sandbox.failed_binds(user) == 0
    assert phone.enrol(user.uid, NEW_PASSWORD, device=devices[0])


def test_without_a_readable_marker_five_phones_cost_one_failed_bind(
    openldap: OpenLdapServer,
    openldap_sandbox: OpenLdapSandbox,
    marker_hidden: None,
    phone_for: PhoneFor,
    store_settings: StoreSettings,
) -> None:
    user = openldap_sandbox.user("4302")
    phone = phone_for(shielded(openldap, store_settings))
    devices = phones_enrolled(phone, user, 5)
    time.sleep(1.1)  # pwdChangedTime has one-second granularity (hidden here, but kept honest)
    openldap_sandbox.change_own_password(user, NEW_PASSWORD)

    answers = [phone.foreground(user.uid, user.password, device=device) for device in devices]
    again = [phone.foreground(user.uid, user.password, device=device) for device in devices]

    assert answers == [SIGN_IN_AGAIN] * 5
    assert all(answer["update"] is False for answer in again)  # signed out: the stale password stays out
    print(f"\n5 phones, marker hidden: pwdFailureTime {openldap_sandbox.failed_binds(user)}")
    assert openldap_sandbox.failed_binds(user) == 1
    for device in devices:  # the user types the new password: in at once, not rate limited
        assert phone.enrol(user.uid, NEW_PASSWORD, device=device)
