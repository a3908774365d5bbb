"""Known LDAP-injection payloads and awkward passwords against the real slapd and Samba AD:
never a bypass, never a server error (DESIGN §6)."""

from __future__ import annotations

import pytest

from gateway.settings import AttemptsSettings, SecuritySettings, Settings, StoreSettings
from tests.support.payloads import LDAP_INJECTION, PASSWORD_PAYLOADS

from .conftest import OpenLdapServer, SambaServer
from .directory_admin import AdSandbox, OpenLdapSandbox, ssha
from .gateway_under_test import PhoneFor, ad_settings, openldap_settings


def open_throttle(settings: Settings) -> Settings:
    """Limits off: every payload must reach the directory code, not stop at the limiter."""
    return settings.model_copy(
        update={
            "attempts": AttemptsSettings(per_account="", per_source=""),
            "security": SecuritySettings(failure_floor_ms=0),
        }
    )


def assert_no_bypass(phone: object, real_passwords: list[str], victim: str) -> None:
    """Payloads as usernames (with real passwords of other users), then as the victim's password.
    The victim is a user of the test's own: the wrong passwords may lock it."""
    for number, username in enumerate(LDAP_INJECTION):
        for password in [*real_passwords, *PASSWORD_PAYLOADS]:
            response = phone.client.simulate_get(
                "/provisioning",
                params={  # type: ignore[attr-defined]
                    "username": username,
                    "password": password,
                    "reprovision": "false",
                    "deviceId": f"inj-{number}",
                },
            )
            assert response.status_code in (200, 400), (username, response.status_code)
            assert response.json["update"] is False, username
            assert response.json["sipaccounts"] == []
    for password in PASSWORD_PAYLOADS:
        body = phone.provision(victim, password, device="inj-pw", reprovision=False)  # type: ignore[attr-defined]
        assert body["update"] is False


def test_injection_payloads_never_provision_on_openldap(
    openldap: OpenLdapServer, openldap_sandbox: OpenLdapSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    victim = openldap_sandbox.user("4401")
    phone = phone_for(open_throttle(openldap_settings([openldap], store_settings)))
    assert_no_bypass(phone, ["alicepw", "bobpw"], victim.uid)
    assert phone.enrol("alice", "alicepw")  # the directory still works for a real user


def test_injection_payloads_never_provision_on_samba_ad(
    samba: SambaServer, ad_sandbox: AdSandbox, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    victim = ad_sandbox.user("4402")
    phone = phone_for(open_throttle(ad_settings(samba, store_settings)))
    assert_no_bypass(phone, ["Alice-Pass1", "Bob-Pass1"], victim.name)
    assert phone.enrol("alice", "Alice-Pass1")


@pytest.mark.parametrize(
    "password",
    ["tab\there", "soft\u00adhyphen", "no\u00a0break space", "p+ss&w%rd#1=?", "Grüße-密码", " spaced "],
    ids=["tab", "soft-hyphen", "no-break-space", "reserved", "non-ascii", "spaces"],
)
def test_passwords_reach_slapd_exactly_as_typed(
    openldap: OpenLdapServer,
    openldap_sandbox: OpenLdapSandbox,
    phone_for: PhoneFor,
    store_settings: StoreSettings,
    password: str,
) -> None:
    user = openldap_sandbox.user("4301", userPassword=ssha(password))  # set at creation: no pwdReset
    phone = phone_for(open_throttle(openldap_settings([openldap], store_settings)))
    assert phone.enrol(user.uid, password)
    stripped = password.replace("\u00ad", "").replace("\u00a0", " ")
    if stripped != password:  # what SASLprep would have sent instead: must not sign in
        assert phone.provision(user.uid, stripped, device="other", reprovision=False)["update"] is False
