"""The gateway against the real test directories, as a SessionTalk app sees it.

Settings are built explicitly (never from the host's environment): the real ``LdapDirectory``
over LDAPS with certificate validation, the shipped preset of each directory, a fresh device
store. ``Phone`` calls ``GET /provisioning`` through Falcon's TestClient and insists on HTTP 200:
every business outcome and every outage is a 200 with JSON (DESIGN §2), never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from falcon.testing import TestClient

from gateway.app import build_directory, create_app
from gateway.directory.connection import LdapConnectionFactory
from gateway.settings import MessagesSettings, Settings, StoreSettings

if TYPE_CHECKING:
    from .conftest import OpenLdapServer, SambaServer

MESSAGES = MessagesSettings()
#: Servers must answer quickly on loopback; small timeouts keep outage tests short.
CONNECT_TIMEOUT, RECEIVE_TIMEOUT = 2, 5


def answer(update: bool, errmsg: str = "", accounts: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    return {"update": update, "sipaccounts": list(accounts), "errmsg": errmsg}


LOGIN_FAILED = answer(False, MESSAGES.login_failed)
UNAVAILABLE = answer(False, MESSAGES.unavailable)
UNCHANGED = answer(False)
SIGNED_OUT = answer(True, MESSAGES.signed_out)
SIGN_IN_AGAIN = answer(True, MESSAGES.sign_in_again)
MUST_CHANGE = answer(False, MESSAGES.password_must_change)
PASSWORD_EXPIRED = answer(False, MESSAGES.password_expired)


def ad_lines(extension: str, secret: str, *other_extensions: str) -> list[dict[str, str]]:
    """What the active-directory preset gives: ipPhone, then one line per otherIpPhone."""
    return [
        {"sipusername": e, "authusername": e, "sippassword": secret, "transport": "TLS", "srtp": "Enabled"}
        for e in (extension, *other_extensions)
    ]


def openldap_lines(extension: str, secret: str, *other_extensions: str) -> list[dict[str, str]]:
    """What the openldap preset gives: sipExtension, then one line per sipOtherExtension."""
    return [
        {"sipusername": e, "authusername": e, "sippassword": secret, "transport": "TLS"}
        for e in (extension, *other_extensions)
    ]


def ad_settings(samba: SambaServer, store: StoreSettings, **directory: Any) -> Settings:
    """The gateway in search mode against the Samba DC: LDAPS by host name, the test CA."""
    values: dict[str, Any] = {
        "servers": (f"ldaps://localhost:{samba.ldaps_port}",),
        "base_dn": samba.base_dn,
        "bind_dn": samba.svc_upn,
        "bind_password": samba.svc_pw,
        "ca_file": samba.ca_cert,
        "netbios_domain": samba.domain,
        "connect_timeout": CONNECT_TIMEOUT,
        "receive_timeout": RECEIVE_TIMEOUT,
    }
    values.update(directory)
    return Settings(directory=values, mapping={"preset": "active-directory"}, store=store)  # type: ignore[arg-type]


def openldap_settings(instances: Sequence[OpenLdapServer], store: StoreSettings, **directory: Any) -> Settings:
    """The gateway in search mode against one slapd or a failover pair: LDAPS by host name."""
    first = instances[0]
    values: dict[str, Any] = {
        "servers": tuple(f"ldaps://localhost:{server.ldaps_port}" for server in instances),
        "base_dn": first.base_dn,
        "bind_dn": first.svc_dn,
        "bind_password": first.svc_pw,
        "ca_file": first.ca_cert,
        "connect_timeout": CONNECT_TIMEOUT,
        "receive_timeout": RECEIVE_TIMEOUT,
    }
    values.update(directory)
    return Settings(directory=values, mapping={"preset": "openldap"}, store=store)  # type: ignore[arg-type]


@dataclass
class Phone:
    """SessionTalk apps calling one gateway; ``device`` tells the installations apart."""

    client: TestClient
    connections: LdapConnectionFactory

    @classmethod
    def of(cls, settings: Settings) -> Phone:
        """A gateway wired as ``serve`` wires it (real ``LdapDirectory``, LDAP connection factory)."""
        directory = build_directory(settings)
        assert isinstance(directory.connections, LdapConnectionFactory)
        return cls(TestClient(create_app(settings, directory=directory)), directory.connections)

    def close(self) -> None:
        """Close the gateway's directory connections (else their sockets leak: ResourceWarning)."""
        self.connections.close()

    def provision(self, username: str, password: str, *, device: str = "phone-1", reprovision: bool) -> dict[str, Any]:
        """One provisioning call; the JSON body (the call must answer 200, whatever happened)."""
        params = {
            "username": username,
            "password": password,
            "reprovision": "true" if reprovision else "false",
            "deviceId": device,
        }
        response = self.client.simulate_get("/provisioning", params=params)
        assert response.status_code == 200, response.text
        assert response.headers.get("cache-control") == "no-store"
        body: dict[str, Any] = response.json
        return body

    def enrol(self, username: str, password: str, *, device: str = "phone-1") -> list[dict[str, str]]:
        """First-time setup that must succeed; the accounts the phone received."""
        body = self.provision(username, password, device=device, reprovision=False)
        assert body["update"] is True and body["errmsg"] == "" and body["sipaccounts"], body
        accounts: list[dict[str, str]] = body["sipaccounts"]
        return accounts

    def foreground(self, username: str, password: str, *, device: str = "phone-1") -> dict[str, Any]:
        """The app coming back to the foreground: the saved login, ``reprovision=true``."""
        return self.provision(username, password, device=device, reprovision=True)


#: The ``phone_for`` fixture: a Phone for a gateway built from these settings.
PhoneFor = Callable[[Settings], Phone]
