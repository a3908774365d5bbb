"""A private slapd holding N generated users, for the benchmark (``tests/servers/openldap.sh``'s
set-up, sized for 100,000 users and loaded offline with ``slapadd``, which takes seconds where
``ldapadd`` through a running server takes minutes).

Same shape as the integration directory: base ``dc=example,dc=com``, ``sipAccount`` schema
(``schema/ldap/sipaccount.ldif``), memberof and ppolicy overlays, the same ACLs (``sipSecret``
readable by the user and the service account only), LDAPS with its own CA. The mdb map is
sized for the user count and the attributes the gateway searches by are indexed.

    python -m tests.bench.slapd_bench 100000     # start one by hand; Ctrl-C stops it
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.ldif import ADMIN_DN, ADMIN_PW, BASE, SVC_DN, SVC_PW, write_ldif

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_LDIF = ROOT / "schema/ldap/sipaccount.ldif"
DIRLAB = Path(os.environ.get("DIRLAB", "/tmp/gateway-dirlab"))
SBIN = "/usr/sbin"


@dataclass
class BenchSlapd:
    """A running slapd started by ``start_slapd``; ``stop()`` ends it (by its PID)."""

    users: int
    folder: Path
    ldap_port: int
    ldaps_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]
    load_seconds: float

    base_dn: str = BASE
    service_dn: str = SVC_DN
    service_password: str = SVC_PW

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)  # 100,000 users: ~150 MB


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _openssl(*arguments: object) -> None:
    subprocess.run(["openssl", *map(str, arguments)], check=True, capture_output=True)


def _tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for localhost / 127.0.0.1."""
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt, ext = folder / "server.key", folder / "server.csr", folder / "server.crt", folder / "server.ext"
    ca_extensions = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", 30,
             "-subj", "/CN=gateway bench CA", *ca_extensions)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial", 1, "-out", crt,
             "-days", 30, "-extfile", ext)  # fmt: skip
    return ca_crt, crt, key


def _config_ldif(folder: Path, users: int, ca: Path, crt: Path, key: Path) -> str:
    # mdb reserves its map up front (a sparse file): ~2 KiB per user measured, x4 for head room.
    max_size = max(256 << 20, users * 8192)
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcLogLevel: none
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {crt}
olcTLSCertificateKeyFile: {key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file://{folder}/sipaccount.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500
olcAccess: {{0}}to dn.exact="" by * read
olcAccess: {{1}}to dn.base="cn=Subschema" by * read

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PW}
olcDbDirectory: {folder}/data
olcDbMaxSize: {max_size}
olcDbIndex: objectClass eq
olcDbIndex: uid,mail eq
olcDbIndex: sipExtension eq
olcDbIndex: member,memberOf eq
olcDbIndex: entryUUID eq
olcAccess: {{0}}to attrs=userPassword by self =xw by anonymous auth by * none
olcAccess: {{1}}to attrs=sipSecret by self read by dn.exact="{SVC_DN}" read by * none
olcAccess: {{2}}to * by self read by users read by anonymous auth

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOfConfig
olcOverlay: {{0}}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{1}}ppolicy
olcPPolicyDefault: cn=default,ou=policies,{BASE}
olcPPolicyHashCleartext: FALSE
"""


def _wait_ready(process: subprocess.Popen[bytes], port: int, ca: Path, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="localhost"),
            ):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"slapd did not come up on LDAPS port {port}; see {log}")


def start_slapd(users: int, folder: Path | None = None) -> BenchSlapd:
    """Build the config and the data for ``users`` users, load them, start slapd."""
    folder = folder or DIRLAB / f"bench-slapd-{users}-{os.getpid()}"  # two runs at once must not share
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "slapd.d").mkdir(parents=True)
    (folder / "data").mkdir()
    shutil.copy(SCHEMA_LDIF, folder / "sipaccount.ldif")
    ca, crt, key = _tls(folder)
    (folder / "config.ldif").write_text(_config_ldif(folder, users, ca, crt, key))
    started = time.monotonic()
    data = write_ldif(users, folder / "data.ldif")
    slapadd = f"{SBIN}/slapadd"
    subprocess.run(
        [slapadd, "-n0", "-F", folder / "slapd.d", "-l", folder / "config.ldif"], check=True, capture_output=True
    )
    subprocess.run([slapadd, "-q", "-F", folder / "slapd.d", "-b", BASE, "-l", data], check=True, capture_output=True)
    load_seconds = time.monotonic() - started
    ldap_port, ldaps_port = _free_ports(2)
    log = folder / "slapd.log"
    process = subprocess.Popen(
        [
            f"{SBIN}/slapd",
            "-F",
            folder / "slapd.d",
            "-h",
            f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/",
            "-d",
            "none",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        _wait_ready(process, ldaps_port, ca, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return BenchSlapd(users, folder, ldap_port, ldaps_port, ca, process, load_seconds)


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    slapd = start_slapd(users)
    print(
        f"slapd pid {slapd.pid}: {users} users (loaded in {slapd.load_seconds:.1f}s), "
        f"ldap://127.0.0.1:{slapd.ldap_port} ldaps://localhost:{slapd.ldaps_port}, CA {slapd.ca_file}",
        flush=True,
    )
    try:
        slapd.process.wait()
    except KeyboardInterrupt:
        slapd.stop()


if __name__ == "__main__":
    main()
