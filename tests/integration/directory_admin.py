"""What an administrator does to the test directories: create users and groups, change them.

Tests that change an account (disable it, lock it, expire it, take it out of a group) work on
users of their own, in an OU of their own (a *sandbox*) that is deleted afterwards, so tests stay
independent of each other and of the scripts' users. Nothing here changes domain-wide policy:
password expiry comes from a fine-grained password policy (PSO) applied to one user.

AD changes go over LDAPS as Administrator (ldap3) or through ``samba-tool`` against the running
DC, like an admin on the DC would run it; OpenLDAP changes go in as the rootdn.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldap3 import BASE, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server, Tls

if TYPE_CHECKING:
    from .conftest import OpenLdapServer, SambaServer

TIMEOUT_SECONDS = 5
#: AD's tree-delete control: removes an OU with everything in it in one operation.
TREE_DELETE = ("1.2.840.113556.1.4.805", True, None)
#: OpenLDAP's Relax Rules control: lets the rootdn set entryUUID and pwdChangedTime, as a replica would.
RELAX = ("1.3.6.1.4.1.4203.666.5.12", True, None)
#: Samba's private control that lets an offline change set pwdLastSet to any time.
SAMBA_BYPASS_PWD_LAST_SET = "1.3.6.1.4.1.7165.4.3.20"
UF_NORMAL_ACCOUNT = 0x200
AD_LOCKOUT_THRESHOLD = 5  # set domain-wide by tests/servers/samba.sh (never changed by tests)
_EPOCH_AS_FILETIME = 116444736000000000


def unique(prefix: str) -> str:
    """A short unique name (AD sAMAccountName allows 20 characters)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def filetime(moment: datetime) -> int:
    """A datetime as AD's FILETIME (100 ns since 1601)."""
    return int(moment.timestamp() * 10_000_000) + _EPOCH_AS_FILETIME


def sid_to_str(raw: bytes) -> str:
    """objectSid (binary) as S-1-5-21-... text, as SDDL wants it."""
    count = raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = [int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(count)]
    return "-".join(["S", str(raw[0]), str(authority), *map(str, subs)])


def ssha(password: str) -> str:
    """An OpenLDAP {SSHA} userPassword value (what slappasswd -h {SSHA} writes)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - the format OpenLDAP reads
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def ldaps_connection(host: str, port: int, ca_cert: Path, user: str, password: str) -> Connection:
    """An ldap3 connection bound over LDAPS with the test CA (raises when the bind fails)."""
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_cert))
    server = Server(host, port=port, use_ssl=True, tls=tls, get_info=NONE, connect_timeout=TIMEOUT_SECONDS)
    conn = Connection(server, user=user, password=password, auto_referrals=False, receive_timeout=TIMEOUT_SECONDS)
    if not conn.bind():
        result = conn.result
        conn.unbind()
        raise AssertionError(f"bind as {user} failed: {result}")
    return conn


def read_entry(conn: Connection, dn: str, attributes: list[str]) -> dict[str, list[Any]]:
    """The attributes of one entry that ``conn`` may read ({} when it may read none of them)."""
    assert conn.search(dn, "(objectClass=*)", BASE, attributes=attributes), conn.result
    found: dict[str, list[Any]] = dict(conn.response[0]["raw_attributes"])
    return {name: values for name, values in found.items() if values}


def _check(ok: bool, conn: Connection, what: str) -> None:
    if not ok:
        raise AssertionError(f"{what} failed: {conn.result}")


# ---------------------------------------------------------------- Active Directory (Samba)


@dataclass(frozen=True)
class AdUser:
    name: str  # sAMAccountName
    dn: str
    upn: str
    password: str = field(repr=False)
    extension: str
    secret: str = field(repr=False)


class AdAdmin:
    """Administrator of the test domain: LDAPS as Administrator, and samba-tool."""

    def __init__(self, samba: SambaServer) -> None:
        self.samba = samba
        self.conn = ldaps_connection("localhost", samba.ldaps_port, samba.ca_cert, samba.admin_upn, samba.admin_pw)

    def close(self) -> None:
        self.conn.unbind()

    def add(self, dn: str, classes: list[str], attributes: Mapping[str, Any]) -> None:
        _check(self.conn.add(dn, classes, dict(attributes)), self.conn, f"add {dn}")

    def replace(self, dn: str, **attributes: Any) -> None:
        changes = {name: [(MODIFY_REPLACE, [value])] for name, value in attributes.items()}
        _check(self.conn.modify(dn, changes), self.conn, f"modify {dn}")

    def clear(self, dn: str, *attributes: str) -> None:
        """Remove every value of ``attributes``."""
        changes: dict[str, list[tuple[str, list[str]]]] = {name: [(MODIFY_DELETE, [])] for name in attributes}
        _check(self.conn.modify(dn, changes), self.conn, f"modify {dn}")

    def read(self, dn: str, *attributes: str) -> dict[str, list[Any]]:
        return read_entry(self.conn, dn, list(attributes))

    def delete_tree(self, dn: str) -> None:
        _check(self.conn.delete(dn, controls=[TREE_DELETE]), self.conn, f"delete {dn}")

    def sid(self, dn: str) -> str:
        return sid_to_str(self.read(dn, "objectSid")["objectSid"][0])

    def samba_tool(self, *args: str) -> str:
        """``samba-tool ARGS`` against the running DC over LDAP, as Administrator."""
        command = [
            "samba-tool", *args,
            "-H", f"ldap://{self.samba.host}",
            "-U", f"Administrator%{self.samba.admin_pw}",
            "-s", str(self.samba.dir / "etc" / "smb.conf"),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=_sbin_path())
        if done.returncode != 0:
            raise AssertionError(f"samba-tool {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def ldbmodify_offline(self, ldif: str, *options: str) -> None:
        """Write straight into the DC's sam.ldb (root on the DC), for what LDAP may not change."""
        command = ["ldbmodify", "-H", str(self.samba.dir / "private" / "sam.ldb"), *options]
        done = subprocess.run(command, input=ldif, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0 or "Modified 1 records" not in done.stdout:
            raise AssertionError(f"ldbmodify failed: {done.stdout}{done.stderr}")

    def sandbox(self) -> AdSandbox:
        ou = f"OU={unique('t-')},{self.samba.users_ou}"
        self.add(ou, ["top", "organizationalUnit"], {})
        return AdSandbox(self, ou)


class AdSandbox:
    """An OU of the test's own, deleted (with everything in it) afterwards."""

    def __init__(self, admin: AdAdmin, ou: str) -> None:
        self.admin = admin
        self.ou = ou
        self.realm = admin.samba.realm.lower()
        self._policies: list[str] = []

    def user(self, extension: str, *, groups: Iterable[str] = (), **attributes: Any) -> AdUser:
        """An enabled user with a line (ipPhone) and a SIP secret, member of ``groups``."""
        name = unique("u")
        user = AdUser(
            name=name,
            dn=f"CN={name},{self.ou}",
            upn=f"{name}@{self.realm}",
            password=f"{name.capitalize()}-Pass1",
            extension=extension,
            secret=f"secret-{name}",
        )
        values = {
            "sAMAccountName": name,
            "userPrincipalName": user.upn,
            "unicodePwd": f'"{user.password}"'.encode("utf-16-le"),
            "userAccountControl": str(UF_NORMAL_ACCOUNT),
            "ipPhone": extension,
            "msDS-cloudExtensionAttribute1": user.secret,
            **attributes,
        }
        self.admin.add(user.dn, ["top", "person", "organizationalPerson", "user"], values)
        for group in groups:
            self.add_member(group, user.dn)
        return user

    def group(self, *members: str) -> str:
        """A global security group holding ``members`` (user or group DNs); returns its DN."""
        name = unique("g-")
        dn = f"CN={name},{self.ou}"
        self.admin.add(dn, ["top", "group"], {"sAMAccountName": name, **({"member": list(members)} if members else {})})
        return dn

    def add_member(self, group_dn: str, member_dn: str) -> None:
        _check(self.admin.conn.modify(group_dn, {"member": [(MODIFY_ADD, [member_dn])]}), self.admin.conn, "add member")

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        conn = self.admin.conn
        _check(conn.modify(group_dn, {"member": [(MODIFY_DELETE, [member_dn])]}), conn, "remove member")

    def lock_out(self, user: AdUser) -> None:
        """Lock the account the way an attacker would: wrong passwords up to the lockout threshold."""
        samba = self.admin.samba
        for attempt in range(AD_LOCKOUT_THRESHOLD):
            try:
                ldaps_connection("localhost", samba.ldaps_port, samba.ca_cert, user.upn, f"wrong-{attempt}").unbind()
            except AssertionError:
                continue
            raise AssertionError("a wrong password was accepted")
        computed = self.admin.read(user.dn, "msDS-User-Account-Control-Computed")
        assert int(computed["msDS-User-Account-Control-Computed"][0]) & 0x10, "account did not lock"

    def expire_password(self, user: AdUser) -> None:
        """A PSO of this test's own with a 2-day maximum age, and a password set 3 days ago."""
        policy = unique("pso-")
        self.admin.samba_tool("domain", "passwordsettings", "pso", "create", policy, "10",
                              "--max-pwd-age=2", "--min-pwd-age=0", "--complexity=off")  # fmt: skip
        self._policies.append(policy)
        self.admin.samba_tool("domain", "passwordsettings", "pso", "apply", policy, user.name)
        # Over LDAP pwdLastSet may only be set to 0 or -1; an offline change with Samba's
        # "bypass last set" control backdates it (as tests/servers/samba.sh does for erin).
        three_days_ago = filetime(datetime.now(UTC) - timedelta(days=3))
        self.admin.ldbmodify_offline(
            f"dn: {user.dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: {three_days_ago}\n",
            f"--controls=local_oid:{SAMBA_BYPASS_PWD_LAST_SET}:0",
        )

    def bad_password_count(self, user: AdUser) -> int:
        return int(self.admin.read(user.dn, "badPwdCount").get("badPwdCount", [b"0"])[0])

    def close(self) -> None:
        for policy in self._policies:
            self.admin.samba_tool("domain", "passwordsettings", "pso", "delete", policy)
        self.admin.delete_tree(self.ou)


# ---------------------------------------------------------------- OpenLDAP


@dataclass(frozen=True)
class OpenLdapUser:
    uid: str
    dn: str
    mail: str
    password: str = field(repr=False)
    extension: str
    secret: str = field(repr=False)


class OpenLdapAdmin:
    """The rootdn of one test slapd (plain LDAP on loopback: this is the admin's side)."""

    def __init__(self, server: OpenLdapServer) -> None:
        self.server = server
        self.conn = Connection(
            Server(server.host, port=server.port, get_info=NONE, connect_timeout=TIMEOUT_SECONDS),
            user=server.admin_dn,
            password=server.admin_pw,
            auto_referrals=False,
            receive_timeout=TIMEOUT_SECONDS,
        )
        _check(self.conn.bind(), self.conn, "rootdn bind")

    def close(self) -> None:
        self.conn.unbind()

    def add(self, dn: str, classes: list[str], attributes: Mapping[str, Any], *, relax: bool = False) -> None:
        ok = self.conn.add(dn, classes, dict(attributes), controls=[RELAX] if relax else None)
        _check(ok, self.conn, f"add {dn}")

    def replace(self, dn: str, *, relax: bool = False, **attributes: Any) -> None:
        changes = {name: [(MODIFY_REPLACE, [value] if value is not None else [])] for name, value in attributes.items()}
        _check(self.conn.modify(dn, changes, controls=[RELAX] if relax else None), self.conn, f"modify {dn}")

    def delete_tree(self, dn: str) -> None:
        """Delete ``dn`` and everything below it, deepest entries first (slapd has no tree delete)."""
        _check(self.conn.search(dn, "(objectClass=*)", SUBTREE, attributes=["1.1"]), self.conn, f"list {dn}")
        dns = [entry["dn"] for entry in self.conn.response if entry.get("type") == "searchResEntry"]
        for child in sorted(dns, key=lambda d: d.count(","), reverse=True):
            _check(self.conn.delete(child), self.conn, f"delete {child}")

    def sandbox(self) -> OpenLdapSandbox:
        ou = f"ou={unique('t-')},{self.server.base_dn}"
        self.add(ou, ["organizationalUnit"], {})
        return OpenLdapSandbox([self], ou)


class OpenLdapSandbox:
    """An OU of the test's own on one slapd, or the same OU on each server of a failover pair
    (same entryUUID and pwdChangedTime everywhere, as replication would leave them)."""

    def __init__(self, admins: list[OpenLdapAdmin], ou: str) -> None:
        self.admins = admins
        self.ou = ou

    @classmethod
    def replicated(cls, admins: list[OpenLdapAdmin]) -> OpenLdapSandbox:
        ou = f"ou={unique('t-')},{admins[0].server.base_dn}"
        for admin in admins:
            admin.add(ou, ["organizationalUnit"], {})
        return cls(admins, ou)

    def user(self, extension: str, *, groups: Iterable[str] = (), **attributes: Any) -> OpenLdapUser:
        uid = unique("u")
        user = OpenLdapUser(
            uid=uid,
            dn=f"uid={uid},{self.ou}",
            mail=f"{uid}@example.com",
            password=f"{uid}-pw",
            extension=extension,
            secret=f"secret-{uid}",
        )
        values = {
            "uid": uid,
            "cn": uid,
            "sn": uid,
            "mail": user.mail,
            "userPassword": ssha(user.password),
            "sipExtension": extension,
            "sipSecret": user.secret,
            "entryUUID": str(uuid.uuid4()),
            "pwdChangedTime": datetime.now(UTC).strftime("%Y%m%d%H%M%SZ"),
            **attributes,
        }
        for admin in self.admins:
            admin.add(user.dn, ["inetOrgPerson", "sipAccount"], values, relax=True)
        for group in groups:
            self.add_member(group, user.dn)
        return user

    def group(self, *members: str) -> str:
        """A groupOfNames holding ``members`` (it must have one); returns its DN."""
        assert members, "groupOfNames needs at least one member"
        dn = f"cn={unique('g-')},{self.ou}"
        for admin in self.admins:
            admin.add(dn, ["groupOfNames"], {"member": list(members)})
        return dn

    def add_member(self, group_dn: str, member_dn: str) -> None:
        for admin in self.admins:
            _check(admin.conn.modify(group_dn, {"member": [(MODIFY_ADD, [member_dn])]}), admin.conn, "add member")

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        for admin in self.admins:
            conn = admin.conn
            _check(conn.modify(group_dn, {"member": [(MODIFY_DELETE, [member_dn])]}), conn, "remove member")

    def replace(self, dn: str, **attributes: Any) -> None:
        for admin in self.admins:
            admin.replace(dn, relax=True, **attributes)

    def change_own_password(self, user: OpenLdapUser, new_password: str) -> None:
        """The user changes their own password (RFC 3062 password modify, as ``passwd`` tools do);
        ppolicy stamps pwdChangedTime, to the second. Only on the first server."""
        server = self.admins[0].server
        conn = ldaps_connection("localhost", server.ldaps_port, server.ca_cert, user.dn, user.password)
        try:
            changed = conn.extend.standard.modify_password(user.dn, user.password, new_password)
            _check(bool(changed), conn, "password modify")
        finally:
            conn.unbind()

    def failed_binds(self, user: OpenLdapUser) -> int:
        """How many failed binds ppolicy has recorded for ``user`` (pwdFailureTime values)."""
        return len(read_entry(self.admins[0].conn, user.dn, ["pwdFailureTime"]).get("pwdFailureTime", []))

    def close(self) -> None:
        for admin in self.admins:
            admin.delete_tree(self.ou)


def _sbin_path() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])}
