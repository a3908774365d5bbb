"""Smoke tests of the real-directory fixtures themselves, with plain ldap3 (no gateway code).

When one of these fails, the integration tests built on the fixtures cannot be trusted either.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPSocketOpenError
from ldap3.utils.conv import escape_filter_chars

if TYPE_CHECKING:
    from .conftest import OpenLdapServer, SambaServer

TIMEOUT_SECONDS = 5

# ldap3 2.9.1 checks the server name with ssl.match_hostname(), deprecated since Python 3.7; the
# project's "error" warning filter would turn every validated LDAPS connection into a failure.
pytestmark = pytest.mark.filterwarnings(r"ignore:ssl\.match_hostname\(\) is deprecated:DeprecationWarning")


def ldaps_server(host: str, port: int, ca_cert: Path | str) -> Server:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_cert))
    return Server(host, port=port, use_ssl=True, tls=tls, get_info=NONE, connect_timeout=TIMEOUT_SECONDS)


def plain_server(host: str, port: int) -> Server:
    return Server(host, port=port, get_info=NONE, connect_timeout=TIMEOUT_SECONDS)


@contextmanager
def bound(server: Server, user: str, password: str) -> Iterator[Connection]:
    """A connection bound as ``user``; the test fails if the bind does not succeed."""
    conn = Connection(
        server,
        user=user,
        password=password,
        auto_referrals=False,
        receive_timeout=TIMEOUT_SECONDS,
        return_empty_attributes=False,
    )
    try:
        assert conn.bind(), conn.result
        yield conn
    finally:
        conn.unbind()


def open_error(conn: Connection) -> LDAPSocketOpenError:
    """The error of a connection that must not open; closes the socket ldap3 leaves behind."""
    try:
        with pytest.raises(LDAPSocketOpenError) as failure:
            conn.open()
    finally:
        if conn.socket is not None:  # ldap3 keeps the failed socket and never closes it
            conn.socket.close()
    return failure.value


def read_user(conn: Connection, base_dn: str, filter_: str, attributes: list[str]) -> dict[str, list[str]]:
    """Attributes of the one entry that ``filter_`` matches (references ignored)."""
    conn.search(base_dn, filter_, search_scope=SUBTREE, attributes=attributes)
    entries = [item for item in conn.response if item["type"] == "searchResEntry"]
    assert len(entries) == 1, conn.response
    return dict(entries[0]["attributes"])


# ---------------------------------------------------------------- OpenLDAP


def test_alice_binds_over_ldaps_to_slapd_with_certificate_validation(openldap: OpenLdapServer) -> None:
    server = ldaps_server(openldap.host, openldap.ldaps_port, openldap.ca_cert)
    with bound(server, openldap.user_dn("alice"), openldap.password("alice")) as conn:
        assert conn.extend.standard.who_am_i() == f"dn:{openldap.user_dn('alice')}"


def test_slapd_certificate_is_refused_without_the_test_ca(openldap: OpenLdapServer) -> None:
    # The system trust store does not know the test CA, so validation must fail: proves that the
    # LDAPS tests above validate for real.
    system_bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    server = ldaps_server(openldap.host, openldap.ldaps_port, system_bundle)
    error = open_error(Connection(server, openldap.user_dn("alice"), openldap.password("alice")))
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)


def test_service_account_reads_alice_sip_secret_on_slapd(openldap: OpenLdapServer) -> None:
    server = ldaps_server(openldap.host, openldap.ldaps_port, openldap.ca_cert)
    with bound(server, openldap.svc_dn, openldap.svc_pw) as conn:
        attributes = read_user(conn, openldap.base_dn, "(uid=alice)", ["sipExtension", "sipSecret"])
    assert attributes == {"sipExtension": ["1001"], "sipSecret": ["s3cr3t-alice"]}


def test_bob_cannot_read_alice_sip_secret_on_slapd(openldap: OpenLdapServer) -> None:
    server = ldaps_server(openldap.host, openldap.ldaps_port, openldap.ca_cert)
    with bound(server, openldap.user_dn("bob"), openldap.password("bob")) as conn:
        attributes = read_user(conn, openldap.base_dn, "(uid=alice)", ["sipExtension", "sipSecret"])
    assert attributes == {"sipExtension": ["1001"]}


def test_alice_has_an_extra_line_in_sip_other_extension_on_slapd(openldap: OpenLdapServer) -> None:
    server = plain_server(openldap.host, openldap.port)
    with bound(server, openldap.svc_dn, openldap.svc_pw) as conn:
        attributes = read_user(conn, openldap.base_dn, "(sipOtherExtension=2001)", ["uid", "memberOf"])
    assert attributes["uid"] == ["alice"]
    assert sorted(attributes["memberOf"]) == sorted([openldap.group_dn("sip-users"), openldap.group_dn("admins")])


def test_slapd_serves_the_same_data_on_the_same_ports_after_a_restart(openldap: OpenLdapServer) -> None:
    pid_before = openldap.pid
    with openldap.stopped():
        assert openldap.pid is None
        assert "Connection refused" in str(open_error(Connection(plain_server(openldap.host, openldap.port))))
    assert openldap.pid not in (None, pid_before)
    # A fresh Server object: ldap3 skips an address for ~6 s after a failed connect
    # (RESET_AVAILABILITY_TIMEOUT) and answers "invalid server address" meanwhile.
    server = plain_server(openldap.host, openldap.port)
    with bound(server, openldap.user_dn("alice"), openldap.password("alice")) as conn:
        assert conn.extend.standard.who_am_i() == f"dn:{openldap.user_dn('alice')}"


def test_second_openldap_keeps_serving_while_the_first_is_stopped(
    openldap: OpenLdapServer, second_openldap: OpenLdapServer
) -> None:
    assert {openldap.port, openldap.ldaps_port}.isdisjoint({second_openldap.port, second_openldap.ldaps_port})
    assert second_openldap.ca_cert == openldap.ca_cert  # one CA file serves the failover pair
    server = ldaps_server(second_openldap.host, second_openldap.ldaps_port, second_openldap.ca_cert)
    with openldap.stopped(), bound(server, second_openldap.svc_dn, second_openldap.svc_pw) as conn:
        conn.search(second_openldap.base_dn, "(objectClass=organization)", attributes=["description"])
        assert conn.entries[0].description.value == f"served by {second_openldap.instance}"


# ---------------------------------------------------------------- Samba AD DC


def test_alice_binds_over_ldaps_to_samba_with_certificate_validation(samba: SambaServer) -> None:
    server = ldaps_server(samba.host, samba.ldaps_port, samba.ca_cert)
    with bound(server, samba.upn("alice"), samba.password("alice")) as conn:
        attributes = read_user(conn, samba.base_dn, "(sAMAccountName=alice)", ["userPrincipalName"])
    assert attributes == {"userPrincipalName": ["alice@dirlab.test"]}


def test_in_chain_group_filter_finds_bob_in_sip_users_through_nested_sip_ops(samba: SambaServer) -> None:
    server = ldaps_server(samba.host, samba.ldaps_port, samba.ca_cert)
    in_chain = f"(memberOf:1.2.840.113556.1.4.1941:={escape_filter_chars(samba.group_dn('sip-users'))})"
    with bound(server, samba.svc_upn, samba.svc_pw) as conn:
        direct = read_user(conn, samba.base_dn, "(sAMAccountName=bob)", ["memberOf"])
        nested = read_user(conn, samba.base_dn, f"(&(sAMAccountName=bob){in_chain})", ["ipPhone"])
    assert direct["memberOf"] == [samba.group_dn("sip-ops")]  # bob is in sip-users only through sip-ops
    assert nested == {"ipPhone": ["1002"]}
