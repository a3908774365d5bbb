"""``events`` shows the counted failures next to the events (issue 14, finding 4), on the demo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway import cli
from gateway.app import build_directory, build_gateway
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import SecuritySettings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out


def test_events_shows_failures_counted_per_minute_next_to_the_events(
    capsys: pytest.CaptureFixture[str], demo_ldif: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_STORE__URL", f"sqlite:///{tmp_path / 'devices.sqlite3'}")
    run(capsys, "migrate", "--demo-directory", str(demo_ldif))
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, security=SecuritySettings(failure_floor_ms=0))
    gateway = build_gateway(settings, directory=build_directory(settings, factory))
    client = TestClient(gateway.app)

    def call(username: str, password: str, device: str) -> None:
        params = {"username": username, "password": password, "reprovision": "false", "deviceId": device}
        assert client.simulate_get("/provisioning", params=params, remote_addr="203.0.113.9").status_code == 200

    call("jbloggs", "7578743843", "phone-9")
    for number in range(3):
        call(f"guess-{number}", "Secret-in-the-wrong-field", f"random-{number}")
    call("jbloggs", "wrong", "new-phone")
    gateway.service.store.close()  # the serving process writes its pending counts within a second, and at exit

    code, out = run(capsys, "events", "--demo-directory", str(demo_ldif))
    assert code == 0
    assert re.search(r"login_failed x3 from 203\.0\.113\.9 in the minute \d\d:\d\d \(no known user\)", out), out
    assert re.search(r"login_failed x1 from 203\.0\.113\.9 in the minute \d\d:\d\d for jbloggs", out), out
    assert re.search(r"enrolled +jbloggs +phone-9", out), out
    assert "guess-" not in out and "random-" not in out and "Secret" not in out  # nothing caller-chosen kept

    code, out = run(capsys, "events", "--json", "--demo-directory", str(demo_ldif))
    listed = json.loads(out)
    assert sorted((e["outcome"], e["count"], e["login"]) for e in listed) == [
        ("enrolled", 1, "jbloggs"),
        ("login_failed", 1, "jbloggs"),
        ("login_failed", 3, ""),
    ]
    assert all(e["minute"].endswith(":00+00:00") for e in listed if "minute" in e)

    code, out = run(capsys, "events", "--device", "phone-9", "--demo-directory", str(demo_ldif))
    assert "login_failed" not in out and "phone-9" in out  # counted failures keep no deviceId
