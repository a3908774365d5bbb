"""docs/deployment-linux.md against a real slapd, behind Debian's nginx: the guide's configuration,
secrets file and admin commands (its blocks tagged ``tested:``), the gateway started as the
systemd unit starts it, and the documented nginx site in front. A phone enrols through nginx over
TLS, and no log on the way holds the password.

Only machine-specific parts change: the guide's /etc, /var/lib and /opt paths become folders of
this test, its example servers become the session's slapd, the ports become free ones, and the
service user becomes the user running the tests.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nginx import NginxLauncher, free_port

from .conftest import OpenLdapServer

PROJECT = Path(__file__).resolve().parents[2]
GUIDE = PROJECT / "docs" / "deployment-linux.md"
UNIT = PROJECT / "docs" / "deploy" / "sessiontalk-gateway.service"
VENV_PYTHON = "/opt/sessiontalk-gateway/.venv/bin/python"
EXAMPLE_SERVERS = 'servers = ["ldaps://ldap1.example.com", "ldaps://ldap2.example.com"]'
LISTENING = re.compile(r"gateway listening on http://127\.0\.0\.1:(\d+)/provisioning")


def guide_block(name: str) -> str:
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```\w*\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert found, f"docs/deployment-linux.md has no block tagged {name}"
    return found.group(1)


class Machine:
    """This test's stand-in for the server's file system and service user."""

    def __init__(self, root: Path) -> None:
        self.etc, self.var = root / "etc", root / "var"
        self.etc.mkdir()
        self.var.mkdir()
        self.paths = {
            "/etc/sessiontalk-gateway": str(self.etc),
            "/var/lib/sessiontalk-gateway": str(self.var),
            VENV_PYTHON: sys.executable,
            "runuser -u sessiontalk-gateway": f"runuser -u {getpass.getuser()}",
        }

    def localize(self, text: str) -> str:
        for documented, here in self.paths.items():
            text = text.replace(documented, here)
        return text

    def env(self) -> dict[str, str]:
        """A root shell's environment without the developer's GATEWAY_ variables; the checkout importable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        return {**env, "PYTHONPATH": str(PROJECT), "PATH": env.get("PATH", "") + ":/usr/sbin:/sbin"}

    def bash(self, script: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.localize(script)],
            env=self.env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}{done.stderr}"
        return done.stdout


def unit_service_entries() -> list[tuple[str, str]]:
    section, entries = "", []
    for line in UNIT.read_text().splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries.append((key, value))
    return entries


def start_as_the_unit_does(machine: Machine, log: Path) -> subprocess.Popen[str]:
    """ExecStart with the unit's Environment=, EnvironmentFile= and WorkingDirectory=."""
    entries = unit_service_entries()
    env = machine.env()
    for key, value in entries:
        if key == "Environment":
            name, _, setting = value.partition("=")
            env[name] = machine.localize(setting)
        elif key == "EnvironmentFile":
            for line in Path(machine.localize(value)).read_text().splitlines():
                name, _, quoted = line.partition("=")
                env[name] = shlex.split(quoted)[0]  # single-quoted: literal, as systemd reads it
    command = shlex.split(machine.localize(dict(entries)["ExecStart"]))
    with log.open("w") as stderr:
        return subprocess.Popen(
            command, cwd=machine.localize(dict(entries)["WorkingDirectory"]), env=env,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    if shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") is None or os.geteuid() != 0:
        pytest.skip("the guide's admin commands use runuser, as root")
    return Machine(tmp_path)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxLauncher]:
    with NginxLauncher(tmp_path) as launch:
        yield launch


def test_a_phone_provisions_through_nginx_from_openldap_set_up_as_the_linux_guide_says(
    openldap: OpenLdapServer, machine: Machine, nginx: NginxLauncher, tmp_path: Path
) -> None:
    # Step 3: the configuration and the CA file; the secrets file with the real password.
    shutil.copyfile(openldap.ca_cert, machine.etc / "ldap-ca.pem")
    config = guide_block("linux-gateway-toml")
    assert EXAMPLE_SERVERS in config and "port = 8080" in config and "port = 9180" in config
    config = config.replace(EXAMPLE_SERVERS, f'servers = ["ldaps://localhost:{openldap.ldaps_port}"]')
    config = config.replace("port = 8080", f"port = {free_port()}").replace("port = 9180", f"port = {free_port()}")
    (machine.etc / "gateway.toml").write_text(machine.localize(config))
    secrets = guide_block("linux-secrets-env")
    assert "'the service account password'" in secrets
    machine.bash(secrets.replace("the service account password", openldap.svc_pw))

    # Step 4: the admin commands, through the guide's gw function.
    first_run = machine.bash(guide_block("linux-gw-function") + guide_block("linux-first-run"))
    assert "device store schema: empty -> " in first_run
    assert "all checks passed" in first_run and "[FAIL]" not in first_run
    assert "uid=alice,ou=people,dc=example,dc=com" in first_run and "alicepw" not in first_run

    # Step 5 and 6: the gateway as the unit starts it, nginx with the documented site in front.
    gateway = start_as_the_unit_does(machine, tmp_path / "journal.log")
    try:
        assert gateway.stdout is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline and gateway.poll() is None:
            found = LISTENING.search(gateway.stdout.readline())
            port = int(found.group(1)) if found else 0
        assert port, (tmp_path / "journal.log").read_text()
        proxy = nginx([port])
        query = "/provisioning?username=alice&password=alicepw&reprovision={}&deviceId=alice-phone"
        status, body = proxy.get(query.format("false"))
        answer = json.loads(body)
        assert (status, answer["update"], answer["errmsg"]) == (200, True, "")
        assert [a["sipusername"] for a in answer["sipaccounts"]] == ["1001", "2001"]
        assert all(a["transport"] == "TLS" for a in answer["sipaccounts"])
        assert json.loads(proxy.get(query.format("true"))[1]) == {"update": False, "sipaccounts": [], "errmsg": ""}
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
        if gateway.stdout:
            gateway.stdout.close()
    journal = (tmp_path / "journal.log").read_text()
    assert '"outcome": "enrolled"' in journal and '"source": "127.0.0.1"' in journal  # JSON lines, via nginx
    for log in (journal, proxy.logs()):
        assert "alicepw" not in log and openldap.svc_pw not in log
    assert 'GET /provisioning HTTP/1.1" 200' in proxy.logs()
    assert (machine.var / "devices.sqlite3").exists()
