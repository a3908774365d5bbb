"""Oracles (issue 14, finding 9): what an telemetry learns from ``/metrics``, ``/readyz`` and the
demo directory about whether a username exists, and what ``/readyz`` costs the directory."""

from __future__ import annotations

import base64
import re
import threading
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import Gateway, build_directory, build_gateway
from gateway.demo.settings import demo_factory, demo_settings
from gateway.ops.readiness import READINESS_CACHE_SECONDS, Probe, Readiness
from gateway.settings import AttemptsSettings, SecuritySettings, StoreSettings

GENERIC = "Sign-in failed. Check your username and password."
CONTROL_PASSWORDS = ["a\tb", "\x01", "pass\x7f", "line\nbreak", "7578743843\r"]


def demo_gateway(demo_ldif: Path, store: StoreSettings, per_account: str = "") -> Gateway:
    factory = demo_factory(demo_ldif)
    settings = demo_settings(
        factory,
        store=store,
        security=SecuritySettings(failure_floor_ms=0),
        attempts=AttemptsSettings(per_account=per_account, per_source=""),
    )
    return build_gateway(settings, connections=factory, directory=build_directory(settings, factory))


def call(gateway: Gateway, username: str, password: str, device: str = "dev-oracle") -> dict[str, object]:
    params = {"username": username, "password": password, "reprovision": "false", "deviceId": device}
    response = TestClient(gateway.app).simulate_get("/provisioning", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json
    return body


# -- the demo directory answers like slapd -------------------------------------------------------


@pytest.mark.parametrize("password", CONTROL_PASSWORDS, ids=["tab", "soh", "del", "lf", "cr"])
def test_demo_answers_a_control_character_password_with_the_generic_failure_for_any_user(
    demo_ldif: Path, store_settings: StoreSettings, password: str
) -> None:
    """Real slapd compares the password's octets and answers invalidCredentials (49); the demo
    refused them with SASLprep and answered 'temporarily unavailable' for an existing user only."""
    gateway = demo_gateway(demo_ldif, store_settings)
    existing = call(gateway, "jbloggs", password)
    unknown = call(gateway, "nosuchuser", password)
    assert existing == unknown == {"update": False, "sipaccounts": [], "errmsg": GENERIC}


def test_demo_compares_passwords_exactly_like_slapd(demo_ldif: Path, store_settings: StoreSettings) -> None:
    """ldap3's mock matched userPassword case-insensitively and as numbers; slapd does neither."""
    gateway = demo_gateway(demo_ldif, store_settings)
    assert call(gateway, "asmith", "SUNFLOWER-77")["errmsg"] == GENERIC
    assert call(gateway, "jbloggs", "07578743843", "dev-2")["errmsg"] == GENERIC
    assert call(gateway, "asmith", "Sunflower-77", "dev-3")["update"] is True


# -- /metrics: no label tells an unknown user from a refused one --------------------------------


def metric_lines(gateway: Gateway) -> set[str]:
    """The counters' sample lines (histogram buckets and timings left out: they are not labels)."""
    text = TestClient(gateway.admin).simulate_get("/metrics").text
    wanted = re.compile(r"^gateway_(requests|binds|binds_avoided|sign_outs|rate_limited)_total")
    return {line for line in text.splitlines() if wanted.match(line)}


@pytest.mark.parametrize("username", ["tguest", "oleaver", "nosuchuser"], ids=["not-entitled", "disabled", "unknown"])
def test_metrics_do_not_tell_an_unknown_user_from_a_disabled_or_unentitled_one(
    demo_ldif: Path, store_settings: StoreSettings, username: str
) -> None:
    """A stranger who may read /metrics sends wrong passwords for a name, past the attempt limit:
    the counters move the same way whether the name is unknown, disabled or not entitled (none of
    them binds, and each turns "rate limited" at the same count)."""
    reference = demo_gateway(demo_ldif, store_settings, per_account="3/15 minutes")
    gateway = demo_gateway(demo_ldif, store_settings, per_account="3/15 minutes")
    for n in range(5):
        call(reference, "nosuchuser", f"Wrong-Pass-{n}")
        call(gateway, username, f"Wrong-Pass-{n}")
    assert metric_lines(gateway) == metric_lines(reference)
    assert any('outcome="rate_limited"' in line for line in metric_lines(gateway))


# -- /readyz: one probe per server per cache period ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_readiness(clock: Clock, fails: bool = False) -> tuple[Readiness, list[str]]:
    probed: list[str] = []
    lock = threading.Lock()

    def probe(name: str) -> Probe:
        def check() -> None:
            with lock:
                probed.append(name)
            if fails:
                raise RuntimeError("down")

        return Probe(name, check)

    return Readiness([probe("directory server 1"), probe("device store")], timeout=1, clock=clock), probed


def test_readyz_probes_each_part_once_per_cache_period_however_often_it_is_called() -> None:
    clock = Clock()
    readiness, probed = counting_readiness(clock)
    for _ in range(20):
        assert readiness.report().ready
        clock.now += READINESS_CACHE_SECONDS / 25
    assert sorted(probed) == ["device store", "directory server 1"]
    clock.now += READINESS_CACHE_SECONDS
    assert readiness.report().ready
    assert len(probed) == 4  # after the cache period, every part is probed again


def test_readyz_concurrent_calls_share_one_probe() -> None:
    clock = Clock()
    readiness, probed = counting_readiness(clock)
    threads = [threading.Thread(target=readiness.report) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(probed) == ["device store", "directory server 1"]


def test_readyz_not_ready_is_cached_too_and_says_what_failed() -> None:
    clock = Clock()
    readiness, probed = counting_readiness(clock, fails=True)
    reports = [readiness.report() for _ in range(5)]
    assert {report.failed for report in reports} == {("directory server 1", "device store")}
    assert len(probed) == 2


@pytest.mark.parametrize("password", ["tab\there", "soft\u00adhyphen", "no\u00a0break"], ids=["tab", "shy", "nbsp"])
def test_demo_signs_in_with_the_exact_password_slapd_would_accept(
    demo_ldif: Path, store_settings: StoreSettings, password: str
) -> None:
    """SASLprep would refuse the tab, drop the soft hyphen and map the no-break space; slapd
    (and now the demo) compares the octets typed, so the exact password signs in."""
    encoded = base64.b64encode(password.encode()).decode()  # LDIF: base64 keeps tabs and spaces
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", f"userPassword:: {encoded}"))
    gateway = demo_gateway(demo_ldif, store_settings)
    assert call(gateway, "jbloggs", password)["update"] is True
    stripped = password.replace("\u00ad", "").replace("\u00a0", " ").replace("\t", "")
    assert call(gateway, "jbloggs", stripped, "dev-2")["errmsg"] == GENERIC
