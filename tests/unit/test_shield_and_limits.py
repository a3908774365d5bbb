"""Stale-password shield, attempt limits and the response-time floor (DESIGN §6), on the demo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from falcon.testing import TestClient

from gateway.app import build_directory, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.directory.demo import DemoConnectionFactory
from gateway.provisioning.attempts import Attempt, AttemptLimiter, account_key
from gateway.provisioning.shield import FailedPasswordMemory
from gateway.settings import AttemptsSettings, MessagesSettings, SecuritySettings, StoreSettings

GENERIC = MessagesSettings().login_failed


class CountingFactory(DemoConnectionFactory):
    """The demo directory, counting the binds it is asked for."""

    binds = 0

    def run_as_user(self, operation):  # type: ignore[no-untyped-def]
        self.binds += 1
        return super().run_as_user(operation)


@pytest.fixture
def gateway(demo_ldif: Path, store_settings: StoreSettings) -> Callable[..., tuple[TestClient, CountingFactory]]:
    def build(**overrides: object) -> tuple[TestClient, CountingFactory]:
        factory = CountingFactory(demo_ldif)
        overrides.setdefault("security", SecuritySettings(failure_floor_ms=0))
        settings = demo_settings(factory, store=store_settings, **overrides)
        return TestClient(create_app(settings, directory=build_directory(settings, factory))), factory

    return build


def call(
    client: TestClient,
    password: str,
    *,
    reprovision: str = "true",
    username: str = "jbloggs",
    device: str = "phone-1",
    source: str = "198.51.100.7",
) -> dict[str, object]:
    params = {"username": username, "password": password, "reprovision": reprovision, "deviceId": device}
    body: dict[str, object] = client.simulate_get("/provisioning", params=params, remote_addr=source).json
    return body


def test_stale_password_costs_at_most_one_failed_bind_per_device(demo_ldif: Path, gateway: Callable) -> None:
    client, factory = gateway()
    assert call(client, "7578743843", reprovision="false")["update"] is True
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", "userPassword: New-Pass-2"))
    answers = [call(client, "7578743843") for _ in range(50)]
    binds_before = 1
    assert answers[0] == {"update": True, "sipaccounts": [], "errmsg": MessagesSettings().sign_in_again}
    assert all(a == {"update": False, "sipaccounts": [], "errmsg": GENERIC} for a in answers[1:])
    assert factory.binds - binds_before == 1  # the demo has no password-change marker: one bind proves it
    assert call(client, "New-Pass-2", reprovision="false")["update"] is True


def test_a_saved_password_that_failed_costs_the_users_other_phones_no_bind(demo_ldif: Path, gateway: Callable) -> None:
    client, factory = gateway()
    phones = [f"phone-{n}" for n in range(1, 6)]
    for phone in phones:
        assert call(client, "7578743843", reprovision="false", device=phone)["update"] is True
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", "userPassword: New-Pass-2"))
    binds_before = factory.binds
    answers = [call(client, "7578743843", device=phone) for phone in phones]
    assert answers == [{"update": True, "sipaccounts": [], "errmsg": MessagesSettings().sign_in_again}] * 5
    assert factory.binds - binds_before == 1  # no marker in the demo: the first phone's bind proves it for all
    for phone in phones:  # the stale answers did not use up the attempt limit
        assert call(client, "New-Pass-2", reprovision="false", device=phone)["update"] is True


def test_a_stranger_typing_a_wrong_password_does_not_poison_it_for_the_user(demo_ldif: Path, gateway: Callable) -> None:
    client, factory = gateway()
    assert call(client, "7578743843", reprovision="false", device="phone-1")["update"] is True
    call(client, "Guess-1", reprovision="false", device="stranger")  # a typed password, not a saved one
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", "userPassword: Guess-1"))
    binds_before = factory.binds
    assert call(client, "Guess-1", reprovision="false", device="phone-2")["update"] is True
    assert factory.binds - binds_before == 1


def test_without_the_shield_every_call_binds_the_stale_password(demo_ldif: Path, gateway: Callable) -> None:
    client, factory = gateway(
        security=SecuritySettings(stale_password_shield=False, failure_floor_ms=0),
        attempts=AttemptsSettings(per_account="", per_source=""),
    )
    call(client, "7578743843", reprovision="false")
    demo_ldif.write_text(demo_ldif.read_text().replace("userPassword: 7578743843", "userPassword: New-Pass-2"))
    answers = [call(client, "7578743843") for _ in range(20)]
    assert factory.binds == 21
    assert all(a == {"update": False, "sipaccounts": [], "errmsg": GENERIC} for a in answers)


def test_account_limit_stops_binding_after_the_allowed_failures(gateway: Callable) -> None:
    client, factory = gateway(attempts=AttemptsSettings(per_account="3/15 minutes", per_source=""))
    for number in range(6):
        assert call(client, f"guess-{number}", device=f"d{number}") == {
            "update": False,
            "sipaccounts": [],
            "errmsg": GENERIC,
        }
    assert factory.binds == 3
    assert call(client, "7578743843", device="d9", reprovision="false")["errmsg"] == GENERIC  # right password, limited


def test_unknown_names_are_limited_exactly_like_real_ones(gateway: Callable) -> None:
    client, _ = gateway(attempts=AttemptsSettings(per_account="3/15 minutes", per_source=""))
    answers = {
        name: [call(client, f"guess-{n}", username=name, device=f"{name}-{n}") for n in range(5)]
        for name in ("nobody", "jbloggs")
    }
    assert answers["nobody"] == answers["jbloggs"]
    store = client.app._router.find("/provisioning")[0]._service.store
    rows = store.list_event_counts()  # failures on no known device are counted; unknown logins not kept
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.outcome] = totals.get(row.outcome, 0) + row.count
    assert totals == {"login_failed": 6, "rate_limited": 4}
    # Refused before any directory lookup: the store cannot tell the real name from the unknown one.
    assert all(not row.login for row in rows if row.outcome == "rate_limited")


def test_typed_name_variants_count_as_one_account() -> None:
    assert account_key(None, "CORP\\JBloggs ") == account_key(None, "jbloggs") == "name:jbloggs"
    limiter = AttemptLimiter(per_account="2/15 minutes")
    attempt = Attempt(account_key(None, "jbloggs"), "")
    limiter.failed(Attempt(account_key(None, "CORP\\jbloggs"), ""))
    limiter.failed(Attempt(account_key(None, "JBLOGGS"), ""))
    assert limiter.allowed(attempt) is False


def test_source_limit_throttles_one_address_not_the_others(gateway: Callable) -> None:
    client, _ = gateway(attempts=AttemptsSettings(per_account="", per_source="4/minute"))
    for number in range(4):
        call(client, "wrong", username=f"user{number}", source="203.0.113.66")
    assert call(client, "7578743843", reprovision="false", source="203.0.113.66")["errmsg"] == GENERIC
    assert call(client, "7578743843", reprovision="false", source="203.0.113.67")["update"] is True


def test_failed_answers_take_the_floor_and_successes_do_not(demo_ldif: Path, store_settings: StoreSettings) -> None:
    slept: list[float] = []
    factory = demo_factory(demo_ldif)
    settings = demo_settings(factory, store=store_settings, security=SecuritySettings(failure_floor_ms=200))
    app = create_app(settings, directory=build_directory(settings, factory))
    service = app._router.find("/provisioning")[0]._service  # the one service this app wires
    service.sleep = slept.append
    client = TestClient(app)
    call(client, "7578743843", reprovision="false")
    assert slept == []
    for username, password in [
        ("nobody", "x"),
        ("jbloggs", "wrong"),
        ("tguest", "Visitor-2026"),
        ("oleaver", "Leaver-2026"),
        ("jbloggs", " "),
    ]:
        call(client, password, username=username, device="other")
    assert len(slept) == 5
    assert all(0.15 < s <= 0.2 for s in slept)


def test_failed_password_memory_keeps_no_password_and_expires() -> None:
    now = [0.0]
    memory = FailedPasswordMemory(ttl_seconds=60, clock=lambda: now[0])
    memory.remember(["dev"], "133", "Old-Pass-1")
    assert memory.failed_before("dev", "133", "Old-Pass-1")
    assert not memory.failed_before("dev", "133", "New-Pass-2")
    assert not memory.failed_before("dev", "134", "Old-Pass-1")
    assert not memory.failed_before("other", "133", "Old-Pass-1")
    assert "Old-Pass-1" not in repr(memory) and b"Old-Pass-1" not in b"".join(memory._entries)
    now[0] = 61
    assert not memory.failed_before("dev", "133", "Old-Pass-1")
