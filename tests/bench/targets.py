"""The directories the benchmark runs against, described once for the gateway and the raw loops.

The raw loops must do the directory work the gateway does. The search filters and attribute
lists below are the ones the gateway's presets produce (``DirectoryConfig.requested_attributes``
and ``UserSearch.filter_for`` with the ``openldap`` / ``active-directory`` presets, read off
when this benchmark was written); they are written out here so the raw loops do not depend on
the gateway's internals, which are being optimized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.bench.ldif import GROUP_DN, bench_users
from tests.bench.slapd_bench import BenchSlapd

OPENLDAP_FILTER = "(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))"
OPENLDAP_ATTRIBUTES = (
    "entryUUID",
    "memberOf",
    "pwdAccountLockedTime",
    "pwdChangedTime",
    "pwdEndTime",
    "pwdReset",
    "sipExtension",
    "sipOtherExtension",
    "sipSecret",
)
AD_FILTER = "(&(&(objectCategory=person)(objectClass=user))(|(sAMAccountName={login})(userPrincipalName={login})))"
AD_ATTRIBUTES = (
    "accountExpires",
    "ipPhone",
    "msDS-cloudExtensionAttribute1",
    "msDS-User-Account-Control-Computed",
    "objectGUID",
    "otherIpPhone",
    "pwdLastSet",
    "userAccountControl",
)
#: Samba users (tests/servers/samba.sh) that can sign in: the others are disabled, locked, expired...
SAMBA_USERS = (("alice", "Alice-Pass1"), ("bob", "Bob-Pass1"))


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class DirectoryTarget:
    """Where the users are, how the gateway is configured for it, and who can sign in."""

    name: str  # a label for reports: "openldap 100 users", "samba"
    preset: str
    endpoint: Endpoint
    ca_file: Path
    base_dn: str
    service_dn: str
    service_password: str
    search_filter: str  # the gateway's filter, ``{login}`` standing for the escaped login
    attributes: tuple[str, ...]
    users: tuple[tuple[str, str], ...]  # (login, password)
    required_groups: tuple[str, ...] = ()
    netbios_domain: str = ""

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.endpoint.host}:{self.endpoint.port}"


def openldap_target(slapd: BenchSlapd) -> DirectoryTarget:
    return DirectoryTarget(
        name=f"openldap {slapd.users} users",
        preset="openldap",
        endpoint=Endpoint("localhost", slapd.ldaps_port),
        ca_file=slapd.ca_file,
        base_dn=slapd.base_dn,
        service_dn=slapd.service_dn,
        service_password=slapd.service_password,
        search_filter=OPENLDAP_FILTER,
        attributes=OPENLDAP_ATTRIBUTES,
        users=tuple((u.login, u.password) for u in bench_users(slapd.users)),
        required_groups=(GROUP_DN,),  # costs no extra search: memberOf comes with the entry
    )


def samba_target(env: dict[str, str]) -> DirectoryTarget:
    """The Samba AD DC of tests/servers/samba.sh (its samba.env), without required groups: an
    in-chain group check would add a search that the raw loop would then have to make too."""
    return DirectoryTarget(
        name="samba",
        preset="active-directory",
        endpoint=Endpoint("localhost", 636),
        ca_file=Path(env["AD_CA_CERT"]),
        base_dn=env["AD_BASE"],
        service_dn=env.get("AD_SVC_UPN", "svc-gateway@dirlab.test"),
        service_password=env.get("AD_SVC_PW", "Gateway-Pass1"),
        search_filter=AD_FILTER,
        attributes=AD_ATTRIBUTES,
        users=SAMBA_USERS,
        netbios_domain=env.get("AD_DOMAIN", "DIRLAB"),
    )
