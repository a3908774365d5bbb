"""A non-editable install carries the presets and the demo directory (DESIGN §5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningGateway, start_gateway, stop_gateway

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The wheel built from this checkout, unpacked into a folder of its own (no source tree)."""
    root = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(PROJECT)],
        check=True,
        capture_output=True,
    )
    wheel = next((root / "dist").glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(root / "site"), str(wheel)],
        check=True,
        capture_output=True,
    )
    yield root


def run_installed(installed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=installed,
        env={**os.environ, "PYTHONPATH": str(installed / "site")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_installed_wheel_ships_presets_and_demo(installed: Path) -> None:
    site = installed / "site" / "gateway"
    assert (site / "_schema" / "presets" / "active-directory.toml").is_file()
    assert (site / "_schema" / "presets" / "openldap.toml").is_file()
    assert (site / "demo" / "directory.ldif").is_file()
    result = run_installed(installed, "check", "--demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(site / "demo" / "directory.ldif") in result.stdout


def test_installed_demo_answers_the_seed_request(installed: Path) -> None:
    gateway: RunningGateway = start_gateway(
        ["--demo"],
        installed / "gateway.log",
        env={"PYTHONPATH": str(installed / "site"), "GATEWAY_STORE__URL": f"sqlite:///{installed / 'devices.sqlite3'}"},
        cwd=installed,
    )
    try:
        status, _, body = gateway.get(
            "/provisioning?username=jbloggs&password=7578743843&reprovision=false&deviceId=3kQs875391li29"
        )
    finally:
        stop_gateway(gateway)
    assert status == 200
    assert json.loads(body)["sipaccounts"][0]["sipusername"] == "1001"
