"""Generated directory data for the benchmark: N users, loaded offline with ``slapadd``.

Users are ``u`` + a zero-padded number as wide as N itself (100 -> ``u000``..``u099``,
100000 -> ``u000000``..``u099999``), password ``<uid>pw``, ``sipExtension`` 2000000+i and
``sipSecret``. Every user is in ``cn=sip-users,ou=groups``: the group lists its members and each
user entry carries its ``memberOf`` value directly, because slapadd bypasses the memberof overlay
(and the gateway is configured with that group as ``required_groups``, as a real site would be).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE = "dc=example,dc=com"
ADMIN_DN, ADMIN_PW = f"cn=admin,{BASE}", "adminpw"
SVC_DN, SVC_PW = f"cn=gateway,ou=services,{BASE}", "gatewaypw"
GROUP_DN = f"cn=sip-users,ou=groups,{BASE}"


@dataclass(frozen=True)
class BenchUser:
    login: str
    password: str


def user_logins(count: int) -> list[str]:
    width = len(str(count))
    return [f"u{i:0{width}d}" for i in range(count)]


def bench_users(count: int) -> list[BenchUser]:
    return [BenchUser(login, f"{login}pw") for login in user_logins(count)]


def ssha(password: str) -> str:
    """``{SSHA}`` as slappasswd makes it (salted SHA-1; slapd checks it on every bind)."""
    salt = os.urandom(4)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - the LDAP scheme, not our choice
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _header() -> str:
    return f"""dn: {BASE}
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example Inc
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{BASE}
objectClass: organizationalUnit
ou: services

dn: ou=policies,{BASE}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{BASE}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: FALSE

dn: {SVC_DN}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: gateway
userPassword: {ssha(SVC_PW)}

"""


def _person(index: int, user: BenchUser) -> str:
    return f"""dn: uid={user.login},ou=people,{BASE}
objectClass: inetOrgPerson
objectClass: sipAccount
uid: {user.login}
cn: User {user.login}
sn: {user.login}
mail: {user.login}@example.com
sipExtension: {2000000 + index}
sipSecret: s3cr3t-{user.login}
userPassword: {ssha(user.password)}
memberOf: {GROUP_DN}

"""


def entries(count: int) -> Iterator[str]:
    users = bench_users(count)
    yield _header()
    for index, user in enumerate(users):
        yield _person(index, user)
    yield f"dn: {GROUP_DN}\nobjectClass: groupOfNames\ncn: sip-users\n"
    yield "".join(f"member: uid={u.login},ou=people,{BASE}\n" for u in users)
    yield "\n"


def write_ldif(count: int, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(entries(count))
    return path
