"""A small private slapd with extra schema files, for proving presets against a real server.

``tests/servers/openldap.sh`` builds the session's standard directory (the gateway's own
``sipAccount`` data); the Asterisk and FreeIPA presets need other attribute types and other
trees, so this launcher builds a throwaway slapd from a config LDIF of its own: loopback only,
plain LDAP on a free port, memberof overlay, ACLs that keep SIP secrets from other users. It is
started and stopped by PID, never touching any other slapd on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SYSTEM_SCHEMA = Path("/etc/ldap/schema")
STANDARD_SCHEMAS = ("core.ldif", "cosine.ldif", "nis.ldif", "inetorgperson.ldif")
COMMANDS = ("slapd", "slapadd", "slappasswd", "ldapadd")
ADMIN_PW = "adminpw"
START_TIMEOUT_SECONDS = 10.0

#: Stand-ins for the FreeIPA (389-DS) attribute types a FreeIPA user entry carries, so test
#: entries can be shaped like FreeIPA's. Names are FreeIPA's; OIDs are a private 2.25 arc, not
#: FreeIPA's or MIT Kerberos' own. In 389-DS nsAccountLock is operational; here it is an ordinary
#: attribute of a stand-in auxiliary class, which is the same to a client reading it.
FREEIPA_SHAPED_SCHEMA = """\
dn: cn=freeipa-shaped,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: freeipa-shaped
olcAttributeTypes: ( 2.25.79911244097741431027857792142838398798.1.1 NAME 'krbPrincipalName'
  EQUALITY caseExactIA5Match SUBSTR caseExactSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )
olcAttributeTypes: ( 2.25.79911244097741431027857792142838398798.1.2 NAME 'ipaUniqueID'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( 2.25.79911244097741431027857792142838398798.1.3 NAME 'nsAccountLock'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( 2.25.79911244097741431027857792142838398798.2.1 NAME 'krbPrincipalAux'
  SUP top AUXILIARY MAY krbPrincipalName )
olcObjectClasses: ( 2.25.79911244097741431027857792142838398798.2.2 NAME 'ipaObject'
  SUP top AUXILIARY MAY ipaUniqueID )
olcObjectClasses: ( 2.25.79911244097741431027857792142838398798.2.3 NAME 'nsAccountLockable'
  SUP top AUXILIARY MAY nsAccountLock )
"""


@dataclass(frozen=True)
class Slapd:
    """A running private slapd: where it listens and how to administer it."""

    url: str
    host: str
    port: int
    suffix: str
    admin_dn: str
    admin_pw: str
    pid: int


def missing_commands() -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in COMMANDS if shutil.which(name, path=path) is None]


def hashed(password: str) -> str:
    """``{SSHA}`` hash of ``password`` for a userPassword value (slapd compares it on bind)."""
    done = subprocess.run(
        ["slappasswd", "-h", "{SSHA}", "-s", password], capture_output=True, text=True, check=True, env=_env()
    )
    return done.stdout.strip()


def start(
    workdir: Path, *, suffix: str, schemas: list[Path], secret_readers: dict[str, str]
) -> tuple[Slapd, subprocess.Popen[bytes]]:
    """Configure and start slapd in ``workdir``; returns it and its process (the caller stops it).

    ``secret_readers`` maps a secret attribute to the one DN (besides the entry itself) that
    may read it, e.g. ``{"AstAccountSecret": <service DN>}``.
    """
    for name in ("slapd.d", "data", "run"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = workdir / "config.ldif"
    config.write_text(_config_ldif(workdir, suffix, schemas, secret_readers))
    subprocess.run(
        ["slapadd", "-n0", "-F", str(workdir / "slapd.d"), "-l", str(config), "-q"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )
    url = f"ldap://127.0.0.1:{port}"
    with (workdir / "slapd.log").open("ab") as log:  # the child keeps its own copy of the handle
        process = subprocess.Popen(
            ["slapd", "-F", str(workdir / "slapd.d"), "-h", f"{url}/", "-d", "0"],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=_env(),
        )
    _wait_until_listening(port, process)
    return Slapd(url, "127.0.0.1", port, suffix, f"cn=admin,{suffix}", ADMIN_PW, process.pid), process


def add_entries(server: Slapd, ldif: str) -> None:
    """Add entries online as the rootdn, so the memberof overlay maintains memberOf."""
    subprocess.run(
        ["ldapadd", "-x", "-H", server.url, "-D", server.admin_dn, "-w", server.admin_pw],
        input=ldif,
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the slapd this module started (its own process only)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=START_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _config_ldif(workdir: Path, suffix: str, schemas: list[Path], secret_readers: dict[str, str]) -> str:
    includes = [SYSTEM_SCHEMA / name for name in STANDARD_SCHEMAS] + schemas
    secret_acls = [
        f'olcAccess: {{{index + 1}}}to attrs={attribute} by self read by dn.exact="{reader}" read by * none'
        for index, (attribute, reader) in enumerate(secret_readers.items())
    ]
    last = len(secret_acls) + 1
    return "\n".join(
        [
            "dn: cn=config",
            "objectClass: olcGlobal",
            "cn: config",
            f"olcPidFile: {workdir / 'run' / 'slapd.pid'}",
            "olcLogLevel: none",
            "",
            "dn: cn=module{0},cn=config",
            "objectClass: olcModuleList",
            "cn: module{0}",
            "olcModulePath: /usr/lib/ldap",
            "olcModuleLoad: back_mdb",
            "olcModuleLoad: memberof",
            "",
            "dn: cn=schema,cn=config",
            "objectClass: olcSchemaConfig",
            "cn: schema",
            "",
            *(f"include: file://{path}" for path in includes),
            "",
            "dn: olcDatabase={-1}frontend,cn=config",
            "objectClass: olcDatabaseConfig",
            "objectClass: olcFrontendConfig",
            "olcDatabase: {-1}frontend",
            "",
            "dn: olcDatabase={0}config,cn=config",
            "objectClass: olcDatabaseConfig",
            "olcDatabase: {0}config",
            "",
            "dn: olcDatabase={1}mdb,cn=config",
            "objectClass: olcDatabaseConfig",
            "objectClass: olcMdbConfig",
            "olcDatabase: {1}mdb",
            f"olcSuffix: {suffix}",
            f"olcRootDN: cn=admin,{suffix}",
            f"olcRootPW: {hashed(ADMIN_PW)}",
            f"olcDbDirectory: {workdir / 'data'}",
            "olcDbMaxSize: 67108864",
            "olcDbIndex: objectClass eq",
            "olcAccess: {0}to attrs=userPassword by self =xw by anonymous auth by * none",
            *secret_acls,
            f"olcAccess: {{{last}}}to * by self read by users read by anonymous auth",
            "",
            "dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config",
            "objectClass: olcOverlayConfig",
            "objectClass: olcMemberOfConfig",
            "olcOverlay: {0}memberof",
            "olcMemberOfRefInt: TRUE",
            "olcMemberOfGroupOC: groupOfNames",
            "olcMemberOfMemberAD: member",
            "olcMemberOfMemberOfAD: memberOf",
            "",
        ]
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"slapd did not listen on port {port} within {START_TIMEOUT_SECONDS} s")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])}
