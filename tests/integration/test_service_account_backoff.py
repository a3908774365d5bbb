"""A wrong service-account password costs one failed logon per minute, not one per call: the
service account must not be locked out by the gateway that depends on it."""

from __future__ import annotations

from gateway.directory.connection import SERVICE_REFUSAL_BACKOFF
from gateway.settings import StoreSettings

from .conftest import OpenLdapServer
from .directory_admin import OpenLdapAdmin, read_entry
from .gateway_under_test import UNAVAILABLE, PhoneFor, openldap_settings


def test_refused_service_bind_is_not_retried_on_every_call(
    openldap: OpenLdapServer, phone_for: PhoneFor, store_settings: StoreSettings
) -> None:
    admin = OpenLdapAdmin(openldap)
    try:
        admin.replace(openldap.svc_dn, pwdFailureTime=None, relax=True)
        phone = phone_for(openldap_settings([openldap], store_settings, bind_password="not-the-service-password"))
        answers = [phone.foreground("alice", "alicepw", device=f"d{n}") for n in range(20)]
        assert all(answer == UNAVAILABLE for answer in answers)
        failures = read_entry(admin.conn, openldap.svc_dn, ["pwdFailureTime"]).get("pwdFailureTime", [])
        assert len(failures) == 1, f"{len(failures)} failed service binds in {SERVICE_REFUSAL_BACKOFF} s"
    finally:
        admin.replace(openldap.svc_dn, pwdFailureTime=None, relax=True)
        admin.close()
