"""Attempt limits and the failure floor under a hostile client (DESIGN §6), on the demo directory:
the limit cannot be overrun by simultaneous calls, its memory stays bounded with caller-chosen
keys, the floor cannot park every worker thread, and a known phone is never shown a stranger's
failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, build_gateway
from gateway.demo.settings import demo_settings
from gateway.directory.demo import DemoConnectionFactory
from gateway.provisioning.attempts import Attempt, AttemptLimiter, BoundedMemoryStorage, Turn
from gateway.settings import AttemptsSettings, MessagesSettings, SecuritySettings, StoreSettings

GENERIC = {"update": False, "sipaccounts": [], "errmsg": MessagesSettings().login_failed}
QUIET = {"update": False, "sipaccounts": [], "errmsg": ""}


class CountingFactory(DemoConnectionFactory):
    """The demo directory, counting binds (and how many ran at once)."""

    def __init__(self, ldif: Path) -> None:
        super().__init__(ldif)
        self.binds = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._count = threading.Lock()

    def run_as_user(self, operation):  # type: ignore[no-untyped-def]
        with self._count:
            self.binds += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)  # a bind takes a few milliseconds on a real server
            return super().run_as_user(operation)
        finally:
            with self._count:
                self.in_flight -= 1


@pytest.fixture
def gateway(demo_ldif: Path, store_settings: StoreSettings) -> Callable[..., tuple[TestClient, CountingFactory]]:
    def build(**overrides: object) -> tuple[TestClient, CountingFactory]:
        factory = CountingFactory(demo_ldif)
        overrides.setdefault("security", SecuritySettings(failure_floor_ms=0))
        overrides.setdefault("attempts", AttemptsSettings(per_account="3/15 minutes", per_source=""))
        settings = demo_settings(factory, store=store_settings, **overrides)
        built = build_gateway(settings, connections=factory, directory=build_directory(settings, factory))
        return TestClient(built.app), factory

    return build


def call(client: TestClient, password: str, device: str, *, reprovision: str = "false") -> dict[str, object]:
    params = {"username": "jbloggs", "password": password, "reprovision": reprovision, "deviceId": device}
    body: dict[str, object] = client.simulate_get("/provisioning", params=params).json
    return body


def test_simultaneous_wrong_passwords_make_at_most_the_allowed_binds_one_at_a_time(gateway: Callable) -> None:
    client, factory = gateway()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda n: call(client, f"Wrong-{n}", f"attacker-{n}"), range(16)))
    assert answers == [GENERIC] * 16
    assert factory.binds == 3
    assert factory.most_in_flight == 1


def test_successful_sign_ins_do_not_use_the_failure_budget(gateway: Callable) -> None:
    client, _ = gateway()
    for n in range(6):
        assert call(client, "7578743843", f"phone-{n % 2}")["update"] in (True, False)
    assert call(client, "Wrong-1", "attacker")["errmsg"] == GENERIC["errmsg"]
    assert call(client, "7578743843", "phone-new")["update"] is True  # 1 failure of 3: still allowed


def test_a_known_phone_is_answered_quietly_while_a_stranger_fills_the_limit(gateway: Callable) -> None:
    client, factory = gateway()
    assert call(client, "7578743843", "users-phone")["update"] is True
    for n in range(6):
        assert call(client, f"Guess-{n}", f"attacker-{n}") == GENERIC
    binds = factory.binds
    assert call(client, "7578743843", "users-phone", reprovision="true") == QUIET
    assert factory.binds == binds  # rate limited: no bind, and no error on the working phone
    # The deviceId alone proves nothing: another password from that phone gets the generic answer.
    assert call(client, "Guess-9", "users-phone", reprovision="true") == GENERIC
    # A new phone of the user gets in with the password one of the user's phones signs in with...
    assert call(client, "7578743843", "users-tablet")["update"] is True
    # ...and a stranger's new guess from a new phone does not, without a bind.
    binds = factory.binds
    assert call(client, "Guess-10", "stranger-phone") == GENERIC
    assert factory.binds == binds


def test_the_floor_holds_at_most_the_configured_answers_at_once(gateway: Callable) -> None:
    client, _ = gateway(security=SecuritySettings(failure_floor_ms=400))
    service_threads = 8  # demo_settings: server.threads default; half may wait out the floor
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=service_threads) as pool:
        durations = list(pool.map(lambda n: _timed(lambda: call(client, "", f"d{n}")), range(service_threads)))
    slow = [d for d in durations if d >= 0.39]
    assert 1 <= len(slow) <= service_threads // 2  # the others answered at once: no worker parked
    assert time.monotonic() - started < 2.0


def _timed(work: Callable[[], object]) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


def test_expired_keys_are_dropped_from_memory() -> None:
    limiter = AttemptLimiter("2/second", "")
    for n in range(200):
        limiter.failed(Attempt(f"name:user-{n}", ""))
    assert len(limiter.memory) == 200
    time.sleep(1.1)
    limiter.memory.sweep()
    assert len(limiter.memory) == 0


def test_a_full_memory_refuses_new_keys_and_keeps_counting_live_ones() -> None:
    limiter = AttemptLimiter("3/15 minutes", "", memory_max_keys=50)
    victim = Attempt("user:victim", "")
    limiter.failed(victim)
    limiter.failed(victim)
    for n in range(500):  # a flood of caller-chosen names
        limiter.failed(Attempt(f"name:flood-{n}", ""))
    assert len(limiter.memory) == 50
    assert limiter.allowed(Attempt("name:someone-new", "")) is False  # full: a new key counts as limited
    assert limiter.allowed(victim) is True  # the victim's count was not evicted...
    limiter.failed(victim)
    assert limiter.allowed(victim) is False  # ...and goes on counting


def test_the_sweep_runs_from_the_librarys_hook_on_its_own_schedule() -> None:
    now = [0.0]
    memory = BoundedMemoryStorage(max_keys=10, sweep_every=10.0, clock=lambda: now[0])
    memory.acquire_entry("short", 5, 1)
    time.sleep(1.05)  # "short" has expired
    memory.acquire_entry("other", 5, 60)
    assert len(memory) == 2  # not yet time to sweep
    now[0] = 11.0
    memory.acquire_entry("third", 5, 60)  # the library's expiry hook now sweeps
    assert len(memory) == 2 and "short" not in memory.events


def test_a_turn_that_does_not_come_in_time_is_busy() -> None:
    limiter = AttemptLimiter("3/15 minutes", "", turn_wait=0.05)
    attempt = Attempt("user:someone", "")
    with limiter.turn(attempt) as first:
        assert first is Turn.BIND
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(lambda: _turn_of(limiter, attempt)).result() is Turn.BUSY
    assert _turn_of(limiter, attempt) is Turn.BIND


def _turn_of(limiter: AttemptLimiter, attempt: Attempt) -> Turn:
    with limiter.turn(attempt) as turn:
        return turn
