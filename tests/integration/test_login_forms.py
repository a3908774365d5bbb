"""Every configured login form signs in through the gateway against the real servers (DESIGN §4).

AD (Samba): sAMAccountName, userPrincipalName and ``DOMAIN\\user``; OpenLDAP: uid and mail. The
service account finds the entry, the gateway binds as its DN, the preset builds the lines. A
login that is not a user (another domain, a filter wildcard) gets the generic answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .gateway_under_test import LOGIN_FAILED, PhoneFor, ad_lines, ad_settings, answer, openldap_lines, openldap_settings

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import OpenLdapServer, SambaServer

ALICE_AD_LINES = ad_lines("1001", "s3cr3t-alice", "91001")
ALICE_OPENLDAP_LINES = openldap_lines("1001", "s3cr3t-alice", "2001")


@pytest.mark.parametrize("login", ["alice", "alice@dirlab.test", "ALICE@DIRLAB.TEST", "DIRLAB\\alice", "dirlab\\alice"])
def test_ad_user_signs_in_by_every_login_form(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, login: str
) -> None:
    phone = phone_for(ad_settings(samba, store_settings))
    body = phone.provision(login, samba.password("alice"), reprovision=False)
    assert body == answer(True, accounts=ALICE_AD_LINES)


def test_every_ad_login_form_finds_the_same_enrolled_device(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor
) -> None:
    # One user, one key (objectGUID): after enrolment by sAMAccountName, the UPN and DOMAIN\user
    # forms find the same enrolled device, so nothing is re-created on the phone.
    phone = phone_for(ad_settings(samba, store_settings))
    phone.enrol("alice", samba.password("alice"))
    assert phone.foreground("alice@dirlab.test", samba.password("alice")) == answer(False)
    assert phone.foreground("DIRLAB\\alice", samba.password("alice")) == answer(False)


@pytest.mark.parametrize("login", ["OTHER\\alice", "DIRLAB\\", "*", "a*", "alice)(sAMAccountName=*", "\\2a"])
def test_ad_login_that_names_no_user_gets_the_generic_answer(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, login: str
) -> None:
    phone = phone_for(ad_settings(samba, store_settings))
    assert phone.provision(login, samba.password("alice"), reprovision=False) == LOGIN_FAILED


@pytest.mark.parametrize("login", ["alice", "alice@example.com", "ALICE@EXAMPLE.COM"])
def test_openldap_user_signs_in_by_uid_and_mail(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, login: str
) -> None:
    phone = phone_for(openldap_settings([openldap], store_settings))
    body = phone.provision(login, openldap.password("alice"), reprovision=False)
    assert body == answer(True, accounts=ALICE_OPENLDAP_LINES)


@pytest.mark.parametrize("login", ["*", "al*", "alice)(uid=*", "\\2a"])
def test_openldap_login_that_names_no_user_gets_the_generic_answer(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, login: str
) -> None:
    phone = phone_for(openldap_settings([openldap], store_settings))
    assert phone.provision(login, openldap.password("alice"), reprovision=False) == LOGIN_FAILED
