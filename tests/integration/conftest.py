"""Real directory servers for the integration tier: private OpenLDAP slapds and a Samba AD DC.

Each server is started once per test session by its script in ``tests/servers/`` and stopped at
the end of the session. The scripts write ``KEY=value`` env files; the fixtures turn them into the
small frozen objects below. Tests that use a fixture get the matching marker automatically
(``slapd`` / ``samba``), so ``pytest -m "not samba"`` leaves Samba alone.

Servers live under ``$DIRLAB`` (default ``${TMPDIR:-/tmp}/gateway-dirlab``), the scripts' default,
so ``tests/servers/openldap.sh stop`` works by hand and a server leaked by a killed session is
replaced by the next one. Samba's ports are fixed (389/636): one Samba per machine, so one test
session at a time on a machine (no pytest-xdist workers with these fixtures).

``GATEWAY_TEST_REUSE_SAMBA=1`` keeps Samba running after the session and reuses a running one
(``samba.sh ensure``) — for an edit-test loop only: whatever earlier sessions changed stays.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_SCRIPTS = Path(__file__).resolve().parent.parent / "servers"
# Time for one script run; a clean CI machine may first apt-get install the packages.
SCRIPT_TIMEOUT_SECONDS = 900
SECOND_OPENLDAP_INSTANCE = "openldap2"

OPENLDAP_COMMANDS = ("slapd", "slapadd", "slappasswd", "ldapsearch", "ldapadd", "ldapmodify", "openssl")
OPENLDAP_PACKAGES = "slapd ldap-utils openssl"

FIXTURE_MARKERS = {"openldap": "slapd", "second_openldap": "slapd", "samba": "samba"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a real server, so ``-m`` can select or leave them out."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker in sorted({FIXTURE_MARKERS[name] for name in used & FIXTURE_MARKERS.keys()}):
            item.add_marker(marker)


# ---------------------------------------------------------------- running the scripts


def _dirlab() -> Path:
    default = Path(os.environ.get("TMPDIR", "/tmp")) / "gateway-dirlab"
    return Path(os.environ.get("DIRLAB") or default)


def _search_path() -> str:
    # slapd, slappasswd and samba live in sbin, which a non-root PATH often lacks.
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _missing_commands(commands: tuple[str, ...]) -> list[str]:
    return [name for name in commands if shutil.which(name, path=_search_path()) is None]


def _run_script(script: str, *args: str, env: dict[str, str]) -> str:
    """Run ``tests/servers/<script> <args>``; fail the test with the script's output tail."""
    command = [str(SERVER_SCRIPTS / script), *args]
    # Ports always come from the kernel: an LDAP_PORT exported in the shell (e.g. by sourcing an
    # env file) would give both slapd instances the same ports.
    inherited = {key: value for key, value in os.environ.items() if key not in {"LDAP_PORT", "LDAPS_PORT"}}
    full_env = {**inherited, "PATH": _search_path(), "DIRLAB": str(_dirlab()), **env}
    shown = " ".join([script, *args])
    try:
        done = subprocess.run(
            command, env=full_env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{shown} did not finish within {SCRIPT_TIMEOUT_SECONDS} s", pytrace=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        pytest.fail(f"{shown} failed (exit {done.returncode}):\n{tail}", pytrace=False)
    return done.stdout


def _read_env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


# ---------------------------------------------------------------- OpenLDAP


@dataclass(frozen=True)
class OpenLdapServer:
    """One private slapd started by ``tests/servers/openldap.sh`` (data: see that script's header).

    Users are ``uid=<name>,ou=people,<base_dn>`` with password ``<name>pw``; all instances of a
    session share one test CA (``ca_cert``), like the servers of one organisation.
    """

    instance: str
    dir: Path
    host: str
    port: int
    ldaps_port: int
    ldap_url: str
    ldaps_url: str
    ldapi_url: str
    base_dn: str
    admin_dn: str
    admin_pw: str
    svc_dn: str
    svc_pw: str
    ca_cert: Path
    memberof_mode: str

    @classmethod
    def from_env_file(cls, path: Path) -> OpenLdapServer:
        env = _read_env_file(path)
        return cls(
            instance=env["INSTANCE"],
            dir=Path(env["DIR"]),
            host=env["LDAP_HOST"],
            port=int(env["LDAP_PORT"]),
            ldaps_port=int(env["LDAPS_PORT"]),
            ldap_url=env["LDAP_URL"],
            ldaps_url=env["LDAPS_URL"],
            ldapi_url=env["LDAPI_URL"],
            base_dn=env["LDAP_BASE"],
            admin_dn=env["LDAP_ADMIN_DN"],
            admin_pw=env["LDAP_ADMIN_PW"],
            svc_dn=env["LDAP_SVC_DN"],
            svc_pw=env["LDAP_SVC_PW"],
            ca_cert=Path(env["LDAP_CA_CERT"]),
            memberof_mode=env["MEMBEROF_MODE"],
        )

    @property
    def pid(self) -> int | None:
        """PID of the running slapd (a new one after each ``start()``), None while stopped."""
        env_file = self.dir / "openldap.env"
        if not env_file.exists():
            return None
        return int(_read_env_file(env_file)["SLAPD_PID"])

    def user_dn(self, uid: str) -> str:
        return f"uid={uid},ou=people,{self.base_dn}"

    def group_dn(self, cn: str) -> str:
        return f"cn={cn},ou=groups,{self.base_dn}"

    @staticmethod
    def password(uid: str) -> str:
        return f"{uid}pw"

    def stop(self) -> None:
        """Stop slapd (config and data stay), e.g. to take one server of a failover pair away."""
        _run_script("openldap.sh", "stop", env={"INSTANCE": self.instance})

    def start(self) -> None:
        """Start slapd again on the same ports with the same config and data (no-op restart if running)."""
        _run_script("openldap.sh", "restart", env={"INSTANCE": self.instance})

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """Keep slapd stopped inside the block, and running again after it, whatever happens inside."""
        self.stop()
        try:
            yield
        finally:
            self.start()


def _start_openldap(instance: str) -> OpenLdapServer:
    missing = _missing_commands(OPENLDAP_COMMANDS)
    if missing and os.geteuid() != 0:
        pytest.skip(
            f"real-slapd tests need the Debian packages {OPENLDAP_PACKAGES} (missing: {', '.join(missing)}); "
            f"install them, or run as root so tests/servers/openldap.sh installs them"
        )
    _run_script("openldap.sh", "start", env={"INSTANCE": instance})
    return OpenLdapServer.from_env_file(_dirlab() / instance / "openldap.env")


@pytest.fixture(scope="session")
def openldap() -> Iterator[OpenLdapServer]:
    """The session's private slapd (memberof overlay, ppolicy, LDAPS with its own test CA)."""
    server = _start_openldap("openldap")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def second_openldap() -> Iterator[OpenLdapServer]:
    """A second, independent slapd with the same data, CA and base DN: the other server of a
    failover pair (own ports and process; stopping one leaves the other serving)."""
    server = _start_openldap(SECOND_OPENLDAP_INSTANCE)
    yield server
    server.stop()


# ---------------------------------------------------------------- Samba AD DC


@dataclass(frozen=True)
class SambaServer:
    """The Samba AD DC started by ``tests/servers/samba.sh`` (data: see that script's header).

    Users live in ``users_ou`` as ``CN=<Given> <Surname>``; bind as ``upn(name)`` with
    ``password(name)``, e.g. alice@dirlab.test / Alice-Pass1.
    """

    dir: Path
    host: str
    port: int
    ldaps_port: int
    ldap_url: str
    ldaps_url: str
    base_dn: str
    users_ou: str
    domain: str
    realm: str
    admin_upn: str
    admin_pw: str
    svc_upn: str
    svc_pw: str
    ca_cert: Path
    pid: int

    @classmethod
    def from_env_file(cls, path: Path) -> SambaServer:
        env = _read_env_file(path)
        return cls(
            dir=Path(env["DIR"]),
            host=env["AD_HOST"],
            port=389,  # Samba has no port option
            ldaps_port=636,
            ldap_url=env["AD_LDAP_URL"],
            ldaps_url=env["AD_LDAPS_URL"],
            base_dn=env["AD_BASE"],
            users_ou=env["AD_USERS_OU"],
            domain=env["AD_DOMAIN"],
            realm=env["AD_REALM"],
            admin_upn=env["AD_ADMIN_UPN"],
            admin_pw=env["AD_ADMIN_PW"],
            svc_upn=env["AD_SVC_UPN"],
            svc_pw=env["AD_SVC_PW"],
            ca_cert=Path(env["AD_CA_CERT"]),
            pid=int(env["SAMBA_PID"]),
        )

    def upn(self, user: str) -> str:
        return f"{user}@{self.realm.lower()}"

    def group_dn(self, name: str) -> str:
        return f"CN={name},{self.users_ou}"

    @staticmethod
    def password(user: str) -> str:
        return f"{user.capitalize()}-Pass1"


@pytest.fixture(scope="session")
def samba() -> Iterator[SambaServer]:
    """The session's Samba AD DC on 127.0.0.1:389/636, realm DIRLAB.TEST (~15 s to provision)."""
    if os.geteuid() != 0:
        pytest.skip("the Samba AD DC needs root (its database keeps security.* xattrs)")
    # As root, samba.sh installs missing packages itself.
    reuse = os.environ.get("GATEWAY_TEST_REUSE_SAMBA") == "1"
    _run_script("samba.sh", "ensure" if reuse else "start", env={})
    yield SambaServer.from_env_file(_dirlab() / "samba" / "samba.env")
    if not reuse:
        _run_script("samba.sh", "stop", env={})


# ---------------------------------------------------------------- administering the servers
# (directory-integration tests: tests/integration/directory_admin.py and gateway_under_test.py)

from collections.abc import Callable  # noqa: E402

from gateway.settings import Settings  # noqa: E402

from .directory_admin import AdAdmin, AdSandbox, OpenLdapAdmin, OpenLdapSandbox  # noqa: E402
from .gateway_under_test import Phone  # noqa: E402

DYNLIST_OPENLDAP_INSTANCE = "openldap-dynlist"
FIXTURE_MARKERS["dynlist_openldap"] = "slapd"


@pytest.fixture(scope="session")
def dynlist_openldap() -> Iterator[OpenLdapServer]:
    """A slapd whose memberOf is computed by the dynlist overlay at search time, nested groups
    included (MEMBEROF_MODE=dynlist); same data, CA and base DN as ``openldap``."""
    missing = _missing_commands(OPENLDAP_COMMANDS)
    if missing and os.geteuid() != 0:
        pytest.skip(f"real-slapd tests need the Debian packages {OPENLDAP_PACKAGES}")
    _run_script("openldap.sh", "start", env={"INSTANCE": DYNLIST_OPENLDAP_INSTANCE, "MEMBEROF_MODE": "dynlist"})
    server = OpenLdapServer.from_env_file(_dirlab() / DYNLIST_OPENLDAP_INSTANCE / "openldap.env")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ad_admin(samba: SambaServer) -> Iterator[AdAdmin]:
    """Administrator of the test domain (LDAPS, and samba-tool against the running DC)."""
    admin = AdAdmin(samba)
    yield admin
    admin.close()


@pytest.fixture
def ad_sandbox(ad_admin: AdAdmin) -> Iterator[AdSandbox]:
    """An OU of this test's own under OU=Telephony, for users it creates and changes; deleted after."""
    sandbox = ad_admin.sandbox()
    yield sandbox
    sandbox.close()


@pytest.fixture
def openldap_sandbox(openldap: OpenLdapServer) -> Iterator[OpenLdapSandbox]:
    """An OU of this test's own on the session's slapd; deleted after."""
    admin = OpenLdapAdmin(openldap)
    sandbox = admin.sandbox()
    yield sandbox
    sandbox.close()
    admin.close()


@pytest.fixture
def phone_for() -> Iterator[Callable[[Settings], Phone]]:
    """``phone_for(settings)``: apps calling a gateway built from ``settings``; its directory
    connections are closed after the test."""
    phones: list[Phone] = []

    def build(settings: Settings) -> Phone:
        phone = Phone.of(settings)
        phones.append(phone)
        return phone

    yield build
    for phone in phones:
        phone.close()
