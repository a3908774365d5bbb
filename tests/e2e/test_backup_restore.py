"""docs/upgrades-and-backups.md: the SQLite backup taken while the gateway runs, and its restore,
as the page's blocks (tagged ``tested:``) are written. Phones enrolled before the copy are still
known after the restore; a phone enrolled after it signs in again, with the same accounts.

Only machine-specific parts change: the page's /var/lib and /opt paths become this test's, the
service user the user running the tests, and ``systemctl`` the test's own stop and start.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway

PROJECT = Path(__file__).resolve().parents[2]
PAGE = PROJECT / "docs" / "upgrades-and-backups.md"
QUERY = "/provisioning?username=jbloggs&password=7578743843&reprovision={}&deviceId={}"


def page_block(name: str) -> str:
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```sh\n(.*?)```", PAGE.read_text(), re.DOTALL)
    assert found, f"docs/upgrades-and-backups.md has no block tagged {name}"
    return found.group(1)


def run_block(block: str, state: Path, **variables: str) -> list[str]:
    """Run a page block with this test's paths; returns the ``systemctl`` commands it asked for."""
    here = {
        "/var/lib/sessiontalk-gateway": str(state),
        "/opt/sessiontalk-gateway/.venv/bin/python": sys.executable,
        "runuser -u sessiontalk-gateway": f"runuser -u {getpass.getuser()}",
        "-o sessiontalk-gateway -g sessiontalk-gateway": "",
    }
    for documented, local in here.items():
        block = block.replace(documented, local)
    systemctl = state / "systemctl.calls"
    script = f'systemctl() {{ echo "$*" >> {systemctl}; }}\n' + block
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", **variables}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = systemctl.read_text().splitlines() if systemctl.exists() else []
    systemctl.unlink(missing_ok=True)
    return calls


def update(gateway: RunningGateway, device: str) -> bool:
    status, _, body = gateway.get(QUERY.format("true", device))
    assert status == 200 and json.loads(body)["errmsg"] == ""
    return bool(json.loads(body)["update"])


def test_a_restored_backup_still_knows_the_phones_enrolled_before_it(demo_ldif: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
        pytest.skip("the page's commands use runuser, as root")
    state = tmp_path / "state"
    state.mkdir()
    env = {"GATEWAY_STORE__URL": f"sqlite:///{state / 'devices.sqlite3'}"}
    gateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "before.log", env=env)
    try:
        assert update(gateway, "enrolled-before") is True
        assert run_block(page_block("backup-sqlite"), state) == []  # while the gateway runs
        assert update(gateway, "enrolled-after") is True
    finally:
        stop_gateway(gateway)
    [backup] = state.glob("backup-*.sqlite3")

    restore = page_block("restore-sqlite")
    restore = re.sub(r"^BACKUP=.*\n", "", restore, flags=re.MULTILINE)  # the test names its own copy
    calls = run_block(restore, state, BACKUP=str(backup))
    assert calls == ["stop sessiontalk-gateway", "start sessiontalk-gateway"]
    assert not (state / "devices.sqlite3-wal").exists()

    gateway = start_gateway(["--demo-directory", str(demo_ldif)], tmp_path / "after.log", env=env)
    try:
        assert update(gateway, "enrolled-before") is False  # still known: nothing to re-create
        assert update(gateway, "enrolled-after") is True  # unknown to the copy: signs in again
    finally:
        stop_gateway(gateway)
