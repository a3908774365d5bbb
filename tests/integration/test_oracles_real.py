"""Oracles against real slapd (issue 14, finding 9).

- ``/readyz`` opened a new LDAPS connection and bound the service account on every call, so a
  monitor (or anyone reaching the admin listener) polling it made the directory work per call.
  A probe's result is kept for ``READINESS_CACHE_SECONDS``: 20 calls within a second, one after
  the other or all at once, open at most one connection per server. Counted on slapd itself,
  like tests/integration/test_connection_reuse.py: a private slapd logging every accepted
  connection (``SLAPD_DEBUG=stats``).
- A password with a control character (tab, U+0001, DEL, LF, CR) is answered by slapd with
  invalidCredentials, so an existing and an unknown user get the same generic failure; the demo
  directory must answer exactly as the gateway on slapd does.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, build_gateway
from gateway.demo import DEMO_DIRECTORY
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import SecuritySettings

from .counted_slapd import CountedSlapd, counted_slapd
from .gateway_under_test import MESSAGES, PhoneFor, answer, openldap_settings

if TYPE_CHECKING:
    from gateway.settings import StoreSettings

INSTANCE = "openldap-oracles"
pytestmark = pytest.mark.slapd

CONTROL_PASSWORDS = ["a\tb", "\x01", "pass\x7f", "line\nbreak", "alicepw\r"]
GENERIC = answer(False, MESSAGES.login_failed)


@pytest.fixture(scope="module")
def counted() -> Iterator[CountedSlapd]:
    with counted_slapd(INSTANCE) as slapd:
        yield slapd


def settled(counted: CountedSlapd) -> int:
    """The accepted count once slapd has written its log lines (they trail the connection)."""
    last = -1
    for _ in range(20):
        now = counted.accepted()
        if now == last:
            return now
        last = now
        time.sleep(0.05)
    return last


def test_twenty_readyz_calls_in_a_second_open_at_most_one_connection_per_server(
    counted: CountedSlapd, store_settings: StoreSettings
) -> None:
    admin = TestClient(build_gateway(openldap_settings([counted.server], store_settings)).admin)
    start = settled(counted)
    began = time.monotonic()
    statuses = [admin.simulate_get("/readyz").status_code for _ in range(10)]
    threads = [
        threading.Thread(target=lambda: statuses.append(admin.simulate_get("/readyz").status_code)) for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    opened = settled(counted) - start
    print(f"\n/readyz: 20 calls in {elapsed * 1000:.0f} ms opened {opened} LDAPS connection(s) on slapd")
    assert statuses == [200] * 20
    assert elapsed < 1.0
    assert opened <= 1


def test_a_control_character_password_gets_the_generic_failure_for_any_user_on_slapd_and_the_demo(
    counted: CountedSlapd, store_settings: StoreSettings, phone_for: PhoneFor, tmp_path: Path
) -> None:
    """slapd compares the password's octets: invalidCredentials, as for any wrong password. An
    unknown user is never bound. Both get the same body, and the demo directory answers alike."""
    phone = phone_for(openldap_settings([counted.server], store_settings))
    slapd = {
        (user, password): phone.provision(user, password, device=f"d{n}", reprovision=False)
        for n, password in enumerate(CONTROL_PASSWORDS)
        for user in ("alice", "nosuchuser")
    }
    assert set(map(repr, slapd.values())) == {repr(GENERIC)}, slapd

    ldif = tmp_path / "directory.ldif"
    shutil.copyfile(DEMO_DIRECTORY, ldif)
    factory = demo_factory(ldif)
    settings = demo_settings(factory, store=store_settings, security=SecuritySettings(failure_floor_ms=0))
    demo = TestClient(build_gateway(settings, connections=factory, directory=build_directory(settings, factory)).app)

    def on_demo(user: str, password: str, device: str) -> Any:
        params = {"username": user, "password": password, "reprovision": "false", "deviceId": device}
        return demo.simulate_get("/provisioning", params=params).json

    answers = {
        (user, password): on_demo(user, password, f"d{n}")
        for n, password in enumerate(CONTROL_PASSWORDS)
        for user in ("jbloggs", "nosuchuser")
    }
    assert set(map(repr, answers.values())) == {repr(GENERIC)}, answers
