"""The SIP secret in AD is confidential: other users cannot read it, the service account can.

``schema/ldap/sessiontalk-ad.ldf`` adds ``sessiontalkSipSecret`` with searchFlags 0x80
(confidential); docs/active-directory.md says how to import it on Samba and grant the service
account Read Property + Control Access. The shell blocks tagged ``<!-- tested: NAME -->`` in
that file are run here as they are written, with the variables at their top set for the test
domain, so the admin's instructions are what the tests prove. The same goes for the way without
a schema extension: an Exchange-style ``extensionAttribute15`` made confidential.

The schema changes stay in the session's Samba (schema cannot be removed); grants are made on
an OU of the test's own.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.settings import MappingSettings, Settings

from .directory_admin import AdSandbox, AdUser, ldaps_connection, read_entry
from .gateway_under_test import MESSAGES, PhoneFor, ad_lines, ad_settings, answer

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import SambaServer
    from .directory_admin import AdAdmin

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "active-directory.md"
LDF_FOLDER = ROOT / "schema" / "ldap"
SECRET = "sessiontalkSipSecret"
EXISTING = "extensionAttribute15"


def guide_block(name: str) -> str:
    """The shell block tagged ``<!-- tested: name -->`` in docs/active-directory.md."""
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```sh\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found, f"docs/active-directory.md has no block tagged {name}"
    return found.group(1)


def run_guide_block(samba: SambaServer, name: str, **variables: str) -> None:
    """Run the block with bash, its own ``NAME=...`` lines replaced by this test's values (from
    schema/ldap, as an admin would run it next to the .ldf file)."""
    lines = [line for line in guide_block(name).splitlines() if line.split("=", 1)[0] not in variables]
    script = "\n".join([*(f"{key}={value!r}" for key, value in variables.items()), *lines])
    env = {
        **os.environ,
        "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]),
        "SMB_CONF_PATH": str(samba.dir / "etc" / "smb.conf"),  # where samba-tool finds the DC's config
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=LDF_FOLDER, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{name} failed:\n{script}\n{done.stdout}{done.stderr}"


def guide_variables(samba: SambaServer, tmp: Path, users_ou: str) -> dict[str, str]:
    return {
        "SAM": str(samba.dir / "private" / "sam.ldb"),
        "DOMAIN_DN": samba.base_dn,
        "LDF": str(tmp / "sessiontalk-ad.ldf"),
        "SERVICE": samba.svc_upn.split("@")[0],
        "USERS_OU": users_ou,
    }


@pytest.fixture(scope="module")
def sessiontalk_schema(samba: SambaServer, ad_admin: AdAdmin, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The .ldf imported as docs/active-directory.md says (once: schema changes are permanent)."""
    schema = f"CN=Schema,CN=Configuration,{samba.base_dn}"
    ad_admin.conn.search(schema, f"(lDAPDisplayName={SECRET})", attributes=["searchFlags"])
    if not ad_admin.conn.entries:
        variables = guide_variables(samba, tmp_path_factory.mktemp("ldf"), samba.users_ou)
        run_guide_block(samba, "samba-import-schema", **variables)
    found = ad_admin.read(f"CN=SessionTalk-SIP-Secret,{schema}", "searchFlags", "attributeID", "isSingleValued")
    assert found == {
        "searchFlags": [b"128"],
        "attributeID": [b"1.2.840.113556.1.8000.2554.50222.21901.42034.18300.33006.14419036.12160013.1.1"],
        "isSingleValued": [b"TRUE"],
    }


@pytest.fixture
def ungranted_ou(ad_sandbox: AdSandbox, sessiontalk_schema: None) -> AdSandbox:
    """The test's OU in the extended schema, without any grant on the secret."""
    return ad_sandbox


@pytest.fixture
def granted_ou(samba: SambaServer, ungranted_ou: AdSandbox, tmp_path: Path) -> AdSandbox:
    """The test's OU, with the service account granted read on the secret as the guide says."""
    run_guide_block(samba, "samba-grant-read", **guide_variables(samba, tmp_path, ungranted_ou.ou))
    return ungranted_ou


def readable(samba: SambaServer, reader_upn: str, password: str, user: AdUser, *attributes: str) -> set[str]:
    """Which of ``attributes`` of ``user`` the reader may see (over LDAPS, as that reader)."""
    conn = ldaps_connection("localhost", samba.ldaps_port, samba.ca_cert, reader_upn, password)
    try:
        return set(read_entry(conn, user.dn, list(attributes)))
    finally:
        conn.unbind()


def test_ordinary_user_cannot_read_another_users_sip_secret_but_the_service_account_can(
    samba: SambaServer, granted_ou: AdSandbox
) -> None:
    alice = granted_ou.user("5501", **{SECRET: "conf-5501"})
    bob = granted_ou.user("5502", **{SECRET: "conf-5502"})
    assert readable(samba, bob.upn, bob.password, alice, SECRET, "ipPhone") == {"ipPhone"}
    assert readable(samba, samba.svc_upn, samba.svc_pw, alice, SECRET, "ipPhone") == {SECRET, "ipPhone"}
    # ...whereas the preset's default secret attribute is readable by everyone.
    assert readable(samba, bob.upn, bob.password, alice, "msDS-cloudExtensionAttribute1") == {
        "msDS-cloudExtensionAttribute1"
    }


def test_without_the_grant_the_service_account_cannot_read_the_secret_either(
    samba: SambaServer, ungranted_ou: AdSandbox
) -> None:
    alice = ungranted_ou.user("5503", **{SECRET: "conf-5503"})
    assert readable(samba, samba.svc_upn, samba.svc_pw, alice, SECRET, "ipPhone") == {"ipPhone"}


def site_file(tmp_path: Path, secret_attribute: str) -> Path:
    """The site file of docs/active-directory.md step 4: the preset, secret from ``secret_attribute``."""
    path = tmp_path / "site.toml"
    path.write_text(
        f'base = "active-directory"\n\n[account_defaults]\nsippassword = {{ attribute = "{secret_attribute}" }}\n'
    )
    return path


def settings_with_secret(samba: SambaServer, store: StoreSettings, site: Path) -> Settings:
    return Settings(directory=ad_settings(samba, store).directory, mapping=MappingSettings(file=site), store=store)


def test_gateway_provisions_the_confidential_secret(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, granted_ou: AdSandbox, tmp_path: Path
) -> None:
    user = granted_ou.user("5504", otherIpPhone="95504", **{SECRET: "conf-5504"})
    phone = phone_for(settings_with_secret(samba, store_settings, site_file(tmp_path, SECRET)))
    assert phone.enrol(user.name, user.password) == ad_lines("5504", "conf-5504", "95504")


def test_secret_the_service_account_may_not_read_gives_no_line(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor, ungranted_ou: AdSandbox, tmp_path: Path
) -> None:
    # A forgotten grant looks like a missing secret: no line ("no phone line"), never an empty secret.
    user = ungranted_ou.user("5505", **{SECRET: "conf-5505"})
    phone = phone_for(settings_with_secret(samba, store_settings, site_file(tmp_path, SECRET)))
    body = phone.provision(user.name, user.password, reprovision=False)
    assert body == answer(False, MESSAGES.no_accounts)


@pytest.fixture
def existing_attribute_made_confidential(
    samba: SambaServer, ad_sandbox: AdSandbox, tmp_path: Path
) -> Iterator[AdSandbox]:
    """docs/active-directory.md way B, on extensionAttribute15 (added by tests/servers/samba.sh)."""
    variables = guide_variables(samba, tmp_path, ad_sandbox.ou)
    run_guide_block(samba, "samba-existing-attribute-confidential", **variables)
    yield ad_sandbox


def test_existing_attribute_made_confidential_hides_the_secret_and_still_provisions(
    samba: SambaServer, store_settings: StoreSettings, phone_for: PhoneFor,
    existing_attribute_made_confidential: AdSandbox, tmp_path: Path,
) -> None:  # fmt: skip
    sandbox = existing_attribute_made_confidential
    schema = f"CN=ms-Exch-Extension-Attribute-15,CN=Schema,CN=Configuration,{samba.base_dn}"
    assert int(sandbox.admin.read(schema, "searchFlags")["searchFlags"][0]) & 0x80
    alice = sandbox.user("5506", **{EXISTING: "conf-5506"})
    bob = sandbox.user("5507")
    assert readable(samba, bob.upn, bob.password, alice, EXISTING, "ipPhone") == {"ipPhone"}
    assert readable(samba, samba.svc_upn, samba.svc_pw, alice, EXISTING) == {EXISTING}
    phone = phone_for(settings_with_secret(samba, store_settings, site_file(tmp_path, EXISTING)))
    assert phone.enrol(alice.name, alice.password) == ad_lines("5506", "conf-5506")
