"""The admin commands of docs/openldap.md do what the guide says, run as they are written.

Each shell block tagged ``<!-- tested: NAME -->`` there is run with bash against the session's
slapd (LDAPS, the test CA), with its variables set for a user of the test's own; the effect is
then checked through the gateway, as an enrolled phone would see it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .gateway_under_test import LOGIN_FAILED, SIGNED_OUT, PhoneFor, openldap_lines, openldap_settings
from .test_account_states import openldap_lock_by_failures

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

    from .conftest import OpenLdapServer
    from .directory_admin import OpenLdapSandbox

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "openldap.md"


def run_guide_block(server: OpenLdapServer, tmp_path: Path, name: str, **variables: str) -> None:
    """Run the block tagged ``name`` with URI, ADMIN_DN, ADMIN_PW_FILE and ``variables`` set."""
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```sh\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found, f"docs/openldap.md has no block tagged {name}"
    password_file = tmp_path / "admin.pw"
    password_file.write_text(server.admin_pw)  # ldapmodify -y reads the whole file, no newline
    password_file.chmod(0o600)
    env = {
        **os.environ,
        # libldap checks the certificate against the name the address resolves back to (here the
        # machine's own name for 127.0.0.1, which the test certificate does not carry), so the
        # URI names the address, which the certificate does carry.
        "URI": f"ldaps://{server.host}:{server.ldaps_port}",
        "ADMIN_DN": server.admin_dn,
        "ADMIN_PW_FILE": str(password_file),
        "LDAPTLS_CACERT": str(server.ca_cert),
        **variables,
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", found.group(1)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}{done.stderr}"


def test_ending_the_account_as_the_guide_says_signs_the_phone_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox,
    tmp_path: Path,
) -> None:  # fmt: skip
    user = openldap_sandbox.user("5601")
    phone = phone_for(openldap_settings([openldap], store_settings))
    phone.enrol(user.uid, user.password)
    run_guide_block(openldap, tmp_path, "openldap-end-account", USER_DN=user.dn)
    assert phone.foreground(user.uid, user.password) == SIGNED_OUT


def test_removing_from_the_group_as_the_guide_says_signs_the_phone_out(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox,
    tmp_path: Path,
) -> None:  # fmt: skip
    user = openldap_sandbox.user("5602")
    colleague = openldap_sandbox.user("5603")
    group = openldap_sandbox.group(user.dn, colleague.dn)
    phone = phone_for(openldap_settings([openldap], store_settings, required_groups=(group,)))
    phone.enrol(user.uid, user.password)
    run_guide_block(openldap, tmp_path, "openldap-remove-from-group", USER_DN=user.dn, GROUP_DN=group)
    assert phone.foreground(user.uid, user.password) == SIGNED_OUT
    assert phone.foreground(colleague.uid, colleague.password, device="phone-2")["update"] is True


def test_unlocking_as_the_guide_says_lets_the_user_sign_in_again(
    openldap: OpenLdapServer, store_settings: StoreSettings, phone_for: PhoneFor, openldap_sandbox: OpenLdapSandbox,
    tmp_path: Path,
) -> None:  # fmt: skip
    user = openldap_sandbox.user("5604")
    openldap_lock_by_failures(openldap_sandbox, user.uid)
    phone = phone_for(openldap_settings([openldap], store_settings))
    assert phone.provision(user.uid, user.password, reprovision=False) == LOGIN_FAILED
    run_guide_block(openldap, tmp_path, "openldap-unlock", USER_DN=user.dn)
    assert phone.enrol(user.uid, user.password) == openldap_lines("5604", user.secret)
