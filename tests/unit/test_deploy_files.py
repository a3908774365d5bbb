"""The files of docs/deploy/ are valid for the tools that read them, and agree with each other and
with the guides: the systemd unit (systemd-analyze), the example configuration (the gateway's own
loader), the IIS site (its rewrite rules, read as IIS reads them), and the Windows configuration
of docs/deployment-windows.md. The nginx site is run for real by tests/e2e/test_nginx.py."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import parser as cli_parser
from gateway.settings import Settings, load_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEPLOY = DOCS / "deploy"
UNIT = DEPLOY / "sessiontalk-gateway.service"
VENV_PYTHON = "/opt/sessiontalk-gateway/.venv/bin/python"


def unit_entries(section: str) -> list[tuple[str, str]]:
    """``(key, value)`` of one section, in order; systemd allows a key more than once."""
    current, entries = "", []
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            current = line
        elif current == section and line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            entries.append((key, value))
    return entries


def service() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in unit_entries("[Service]"):
        values.setdefault(key, []).append(value)
    return values


@pytest.fixture
def unit_here(tmp_path: Path) -> Path:
    """The unit as shipped, except that ExecStart names this machine's interpreter (systemd checks
    that the program exists)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    assert VENV_PYTHON in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(VENV_PYTHON, sys.executable))
    return copy


def test_the_systemd_unit_passes_systemd_analyze_verify(unit_here: Path) -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(unit_here)], capture_output=True, text=True, check=False)
    # Any warning (an unknown key, a bad value, a missing program) fails the test.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_systemd_unit_is_rated_ok_by_systemd_analyze_security(unit_here: Path) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit_here)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if "--offline" in done.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline (systemd < 250)")
    found = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0 and found.group(2) == "OK", found.group(0)


def test_the_unit_runs_the_gateway_as_its_own_user_on_a_read_only_system() -> None:
    unit = service()
    assert unit["User"] == ["sessiontalk-gateway"] and unit["Group"] == ["sessiontalk-gateway"]
    hardening = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes", "UMask": "0077",
        "StateDirectory": "sessiontalk-gateway", "WorkingDirectory": "/var/lib/sessiontalk-gateway",
    }  # fmt: skip
    assert {key: unit.get(key, ["(missing)"])[-1] for key in hardening} == hardening
    assert "ReadWritePaths" not in unit  # the state directory is the only writable place
    assert unit["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]


def test_the_unit_starts_serve_with_the_documented_configuration_and_secrets() -> None:
    unit = service()
    command = shlex.split(unit["ExecStart"][0])
    assert command[:3] == [VENV_PYTHON, "-m", "gateway"]
    run = cli_parser().parse_args(command[3:]).run
    assert (run.__module__, run.__name__) == ("gateway.cli.serve", "run")
    assert "GATEWAY_CONFIG=/etc/sessiontalk-gateway/gateway.toml" in unit["Environment"]
    assert unit["EnvironmentFile"] == ["/etc/sessiontalk-gateway/secrets.env"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # a bad configuration: restarting cannot help
    guide = (DOCS / "deployment-linux.md").read_text()
    for path in ("/etc/sessiontalk-gateway/gateway.toml", "/etc/sessiontalk-gateway/secrets.env", VENV_PYTHON):
        assert path in guide


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No GATEWAY_ variable from the host; the bind password and a CA file as the guides provide them."""
    import os

    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("GATEWAY_DIRECTORY__BIND_PASSWORD", "from the secrets file")
    monkeypatch.setenv("GATEWAY_DIRECTORY__CA_FILE", str(ca))
    yield ca


def example_settings() -> Settings:
    return load_settings(DEPLOY / "gateway.toml", environ={})


def test_the_example_configuration_loads_and_fits_the_proxies(clean_environment: Path) -> None:
    settings = example_settings()
    assert settings.mapping.preset == "active-directory" and settings.directory.servers
    assert (settings.server.host, settings.server.trusted_proxy) == ("127.0.0.1", "127.0.0.1")
    assert settings.server.port == 8080
    assert "server 127.0.0.1:8080;" in (DEPLOY / "nginx-sessiontalk-gateway.conf").read_text()
    assert str(settings.store.sqlite_path).startswith("/var/lib/sessiontalk-gateway/")  # the unit's StateDirectory
    assert (settings.admin.host, settings.admin.port) == ("127.0.0.1", 9180)


def web_config() -> ET.Element:
    return ET.parse(DEPLOY / "web.config").getroot()  # noqa: S314 - the project's own file


def rewrite_rules() -> list[ET.Element]:
    return web_config().findall("./system.webServer/rewrite/rules/rule")


@pytest.mark.parametrize(
    ("path", "proxied"),
    [
        ("provisioning", True),
        ("provisioning/", True),
        ("provisioning/0123456789abcdef0123456789abcdef", True),
        ("provisioning/0123456789abcdef/", True),
        ("provisioningx", False),
        ("provisioning/a/b", False),
        ("healthz", False),
        ("metrics", False),
        ("", False),
    ],
)
def test_iis_passes_only_the_provisioning_route_to_the_gateway(path: str, proxied: bool) -> None:
    # URL Rewrite matches the path without the leading slash and without the query string.
    first, *rest = rewrite_rules()
    pattern = first.find("match").get("url")  # type: ignore[union-attr]
    assert (re.search(pattern, path) is not None) is proxied  # type: ignore[arg-type]
    assert rest and rest[-1].find("match").get("url") == ".*"  # type: ignore[union-attr]
    assert rest[-1].find("action").attrib["statusCode"] == "404"  # type: ignore[union-attr]


def test_iis_forwards_the_query_string_to_the_configured_port(clean_environment: Path) -> None:
    rule = rewrite_rules()[0]
    action = rule.find("action")
    assert action is not None
    assert action.attrib["type"] == "Rewrite" and action.attrib["appendQueryString"] == "true"
    assert action.attrib["url"] == f"http://127.0.0.1:{example_settings().server.port}/{{R:0}}"
    condition = rule.find("conditions/add")
    assert condition is not None and condition.attrib == {"input": "{REQUEST_METHOD}", "pattern": "^GET$"}
    assert web_config().find("./system.webServer/caching").attrib["enabled"] == "false"  # type: ignore[union-attr]


def test_the_windows_guides_configuration_loads(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guide = (DOCS / "deployment-windows.md").read_text()
    found = re.search(r"<!-- tested: windows-gateway-toml -->\n```toml\n(.*?)```", guide, re.DOTALL)
    assert found, "docs/deployment-windows.md has no block tagged windows-gateway-toml"
    config = clean_environment.parent / "gateway.toml"
    config.write_text(found.group(1))
    monkeypatch.setattr(sys, "platform", "win32")  # windows_event_log is a Windows-only setting
    settings = load_settings(config, environ={})
    assert settings.logging.windows_event_log is True
    assert settings.server.trusted_proxy == "127.0.0.1"
    assert settings.server.trusted_proxy_headers == ("x-forwarded-for",)
    assert str(settings.store.sqlite_path) == r"C:\ProgramData\SessionTalkGateway\devices.sqlite3"


def test_the_nginx_per_client_limits_are_off_by_default_and_valid_when_uncommented(tmp_path: Path) -> None:
    # Off: behind SessionTalk's cloud every phone shares a few client addresses (DESIGN §6).
    from tests.support.nginx import NGINX, make_certificate, site_config

    text = (DEPLOY / "nginx-sessiontalk-gateway.conf").read_text()
    active = [line for line in text.splitlines() if re.match(r"\s*limit_(req|conn)", line)]
    assert active == [], active
    commented = [line for line in text.splitlines() if re.match(r"\s*# limit_(req|conn)", line)]
    assert len(commented) == 6, commented
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    _, cert, key = make_certificate(tmp_path)
    site = site_config([8080], 8443, cert, key, tmp_path)
    enabled = re.sub(r"(?m)^(\s*)# (limit_(?:req|conn)\S*\s)", r"\1\2", site)
    assert enabled.count("limit_") == site.count("limit_") and "# limit_" not in enabled
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/e.log;\nevents {{}}\nhttp {{\n{enabled}\n}}\n")
    command = [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)]
    checked = subprocess.run(command, check=False, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
