"""``python -m gateway COMMAND | head``: when the reader of a command's output goes away, the
command ends quietly (status 1, nothing on stderr), not with a BrokenPipeError traceback.

Each command runs as a real process whose stdout is a pipe with no reader left, so its first
write to stdout fails as it does after ``head`` has read its lines and exited.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED = {"username": "jbloggs", "password": "7578743843", "reprovision": "false", "deviceId": "phone-9"}


@pytest.fixture
def store_with_an_event(demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A demo store holding one enrolled phone and its event; the environment that points at it."""
    from falcon.testing import TestClient

    from gateway.app import build_directory, create_app
    from gateway.demo.settings import demo_factory, demo_settings
    from gateway.store.engine import create_store_engine
    from gateway.store.revisions import upgrade

    url = f"sqlite:///{tmp_path / 'devices.sqlite3'}"
    monkeypatch.setenv("GATEWAY_STORE__URL", url)
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory)
    engine = create_store_engine(url)
    upgrade(engine)
    engine.dispose()
    answer = TestClient(create_app(settings, directory=build_directory(settings, factory))).simulate_get(
        "/provisioning", params=SEED
    )
    assert answer.json["update"] is True
    return {**os.environ, "GATEWAY_STORE__URL": url, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


@pytest.mark.parametrize(
    "command",
    [
        ["events"],
        ["devices", "list"],
        ["check"],
        ["try", "jbloggs"],
    ],
    ids=" ".join,
)
def test_a_command_whose_reader_went_away_exits_quietly(
    command: list[str], store_with_an_event: dict[str, str], demo_ldif: Path
) -> None:
    demo = ["--demo-directory", str(demo_ldif)]
    reader, writer = os.pipe()
    os.close(reader)  # `head` has read its lines and exited
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gateway", *command, *demo],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            env=store_with_an_event,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 1


def test_a_command_started_with_stdout_closed_exits_quietly(
    store_with_an_event: dict[str, str], demo_ldif: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "devices", "list", "--demo-directory", str(demo_ldif)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=store_with_an_event,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert "Traceback" not in done.stderr
