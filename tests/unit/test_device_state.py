"""Device state through HTTP on the demo directory, the LDIF edited between calls (DESIGN §3, §7)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from falcon.testing import TestClient
from pydantic import SecretStr

from gateway.app import build_directory, build_store, create_app
from gateway.demo.settings import demo_factory, demo_settings
from gateway.settings import DevicesSettings, MessagesSettings, SafetyValveSettings, Settings, StoreSettings

MESSAGES = MessagesSettings()
JBLOGGS = {"username": "jbloggs", "password": "7578743843"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Gateway:
    """A demo gateway whose LDIF file the test edits."""

    def __init__(self, ldif: Path, settings: Settings, clock: Clock) -> None:
        self.ldif, self.settings, self.clock = ldif, settings, clock
        factory = demo_factory(ldif)
        self.store = build_store(settings, now=clock)
        app = create_app(settings, directory=build_directory(settings, factory), store=self.store, now=clock)
        self.client = TestClient(app)

    def call(self, device: str = "phone-1", reprovision: str = "true", **login: str) -> dict[str, object]:
        params = {**JBLOGGS, **login, "reprovision": reprovision, "deviceId": device}
        response = self.client.simulate_get("/provisioning", params=params)
        assert response.status_code == 200
        body: dict[str, object] = response.json
        return body

    def edit(self, old: str, new: str) -> None:
        text = self.ldif.read_text()
        assert old in text
        self.ldif.write_text(text.replace(old, new))

    def remove_entry(self, dn: str) -> None:
        blocks = self.ldif.read_text().split("\n\n")
        kept = [b for b in blocks if not b.strip().startswith(f"dn: {dn}")]
        assert len(kept) == len(blocks) - 1
        self.ldif.write_text("\n\n".join(kept))


@pytest.fixture
def make_gateway(demo_ldif: Path, store_settings: StoreSettings) -> Callable[..., Gateway]:
    def build(**overrides: object) -> Gateway:
        factory = demo_factory(demo_ldif)
        settings = demo_settings(factory, store=store_settings, **overrides)
        return Gateway(demo_ldif, settings, Clock())

    return build


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()


def accounts(body: dict[str, object]) -> list[str]:
    return [a["sipusername"] for a in body["sipaccounts"]]  # type: ignore[index,union-attr]


def test_first_setup_then_reprovision_then_change_once(gateway: Gateway) -> None:
    first = gateway.call(reprovision="false")
    assert (first["update"], accounts(first), first["errmsg"]) == (True, ["1001"], "")
    assert gateway.call() == {"update": False, "sipaccounts": [], "errmsg": ""}
    gateway.edit("sipExtension: 1001", "sipExtension: 1501")
    changed = gateway.call()
    assert (changed["update"], accounts(changed)) == (True, ["1501"])
    assert gateway.call()["update"] is False


def test_new_secret_or_new_flag_is_a_change(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("sipSecret: 29de?8-jb", "sipSecret: rotated")
    assert gateway.call()["update"] is True
    gateway.edit("cn: video-users\nmember: uid=jbloggs,ou=people,dc=example,dc=com", "cn: video-users")
    body = gateway.call()
    assert body["update"] is True
    assert body["sipaccounts"][0]["video"] == "Disabled"  # type: ignore[index]


def test_new_line_is_a_change(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("sipExtension: 1001\n", "sipExtension: 1001\nsipOtherExtension: 2000\n")
    body = gateway.call()
    assert (body["update"], accounts(body)) == (True, ["1001", "2000"])


def test_phone_migrated_from_another_server_enrols_with_reprovision_true(gateway: Gateway) -> None:
    body = gateway.call(reprovision="true", device="migrated")
    assert (body["update"], accounts(body)) == (True, ["1001"])


def test_deleted_user_is_signed_out_once(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.remove_entry("uid=jbloggs,ou=people,dc=example,dc=com")
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.signed_out}
    assert gateway.call() == {"update": False, "sipaccounts": [], "errmsg": MESSAGES.login_failed}


def test_admin_locked_user_is_signed_out(gateway: Gateway) -> None:
    # 000001010000Z: an administrator's permanent lock, OpenLDAP's "disabled" (issue 13, defect 8).
    gateway.call(reprovision="false")
    gateway.edit("uid: jbloggs\n", "uid: jbloggs\npwdAccountLockedTime: 000001010000Z\n")
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.signed_out}


def test_user_removed_from_phone_group_is_signed_out(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("cn: phone-users\nmember: uid=jbloggs,ou=people,dc=example,dc=com\n", "cn: phone-users\n")
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.signed_out}


def test_extension_removed_signs_out_with_its_own_message(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("sipExtension: 1001\n", "")
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.signed_out}


def test_signed_out_device_enrols_again_with_the_password(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("sipExtension: 1001\n", "")
    gateway.call()
    gateway.edit("sn: Bloggs\n", "sn: Bloggs\nsipExtension: 1001\n")
    body = gateway.call(reprovision="true")
    assert (body["update"], accounts(body)) == (True, ["1001"])


def test_saved_password_that_now_fails_signs_the_device_out_once(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.edit("userPassword: 7578743843", "userPassword: NewPassword-1")
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.sign_in_again}
    assert gateway.call() == {"update": False, "sipaccounts": [], "errmsg": MESSAGES.login_failed}
    assert accounts(gateway.call(password="NewPassword-1", reprovision="false")) == ["1001"]


def test_admin_force_update_and_revoke(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    assert gateway.store.set_devices("jbloggs", None, force_update=True) == 1
    assert gateway.call()["update"] is True
    assert gateway.call()["update"] is False
    assert gateway.store.set_devices(None, "phone-1", status="revoked") == 1
    assert gateway.call() == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.revoked}
    assert gateway.call(reprovision="false") == {"update": True, "sipaccounts": [], "errmsg": MESSAGES.revoked}


def test_device_limit_then_revoke_frees_a_place(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(devices=DevicesSettings(max_per_user=2))
    assert gateway.call(device="a", reprovision="false")["update"] is True
    assert gateway.call(device="b", reprovision="false")["update"] is True
    assert gateway.call(device="c", reprovision="false") == {
        "update": False,
        "sipaccounts": [],
        "errmsg": MESSAGES.device_limit,
    }
    gateway.store.set_devices(None, "a", status="revoked")
    assert gateway.call(device="c", reprovision="false")["update"] is True


def test_wrong_search_base_signs_no_phone_out(make_gateway: Callable[..., Gateway], demo_ldif: Path) -> None:
    gateway = make_gateway()
    gateway.call(reprovision="false")
    # The same store, a gateway whose base DN is an existing OU without users.
    factory = demo_factory(demo_ldif)
    wrong = demo_settings(factory, store=gateway.settings.store).model_copy(
        update={"directory": gateway.settings.directory.model_copy(update={"base_dn": "ou=groups,dc=example,dc=com"})}
    )
    broken = Gateway(demo_ldif, wrong, gateway.clock)
    for _ in range(3):
        assert broken.call() == {"update": False, "sipaccounts": [], "errmsg": MESSAGES.unavailable}
    assert gateway.store.list_devices("jbloggs")[0].status.value == "enrolled"


def test_safety_valve_holds_sign_outs_beyond_the_threshold_until_released(
    make_gateway: Callable[..., Gateway],
) -> None:
    gateway = make_gateway(safety_valve=SafetyValveSettings(window_seconds=600, max_sign_outs=2))
    for device in ("j1", "j2", "j3"):
        gateway.call(device=device, reprovision="false")
    gateway.call(device="a1", reprovision="false", username="asmith", password="Sunflower-77")
    # A lost group (think: a broken ACL): suddenly nobody is entitled.
    gateway.edit("dn: cn=phone-users,", "dn: cn=phone-users-renamed,")
    assert gateway.call(device="j1")["errmsg"] == MESSAGES.signed_out
    assert gateway.call(device="j2")["errmsg"] == MESSAGES.signed_out
    held = {"update": False, "sipaccounts": [], "errmsg": MESSAGES.unavailable}
    assert gateway.call(device="j3") == held
    assert gateway.call(device="a1", username="asmith", password="Sunflower-77") == held
    assert gateway.store.valve_state() == "3 sign-outs within 600 s (limit 2)"
    # Still held after the window: a human must look first.
    gateway.clock.now += timedelta(hours=2)
    assert gateway.call(device="j3") == held
    gateway.edit("dn: cn=phone-users-renamed,", "dn: cn=phone-users,")
    assert gateway.store.reset_valve() is True
    assert gateway.call(device="j3")["update"] is False  # entitled again, accounts unchanged
    assert {d.device_id: d.status.value for d in gateway.store.list_devices("jbloggs")} == {
        "j1": "signed_out",
        "j2": "signed_out",
        "j3": "enrolled",
    }


def test_store_outage_answers_temporarily_unavailable_and_signs_nobody_out(demo_ldif: Path) -> None:
    factory = demo_factory(demo_ldif)
    unreachable = StoreSettings(url=SecretStr("postgresql+psycopg://gateway@127.0.0.1:1/test"), timeout=1)
    settings = demo_settings(factory, store=unreachable)
    store = build_store(settings, check_schema=False)
    client = TestClient(create_app(settings, directory=build_directory(settings, factory), store=store))
    response = client.simulate_get("/provisioning", params={**JBLOGGS, "reprovision": "true", "deviceId": "d"})
    assert response.status_code == 200
    assert response.json == {"update": False, "sipaccounts": [], "errmsg": MESSAGES.unavailable}


def test_every_call_is_in_the_audit_trail_without_secrets(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.call(password="wrong-Pa55")
    gateway.call()
    events = gateway.store.list_events(user="jbloggs")
    # newest first: the right saved password re-enrols the signed-out phone
    assert [e.outcome for e in events] == ["enrolled", "sign_in_again", "enrolled"]
    text = repr(events)
    assert "7578743843" not in text and "wrong-Pa55" not in text and "29de?8-jb" not in text
    assert re.fullmatch(r"[0-9a-f]{64}", gateway.store.list_devices("jbloggs")[0].account_fingerprint or "")


def test_audit_events_older_than_retention_are_pruned(make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway()
    gateway.call(reprovision="false")
    gateway.clock.now += timedelta(days=91)
    gateway.store._next_prune = gateway.clock.now  # skip the hourly wait
    gateway.call()
    gateway.store.wait_for_prune()  # the prune runs on its own thread, after the call's write
    assert [e.outcome for e in gateway.store.list_events(user="jbloggs")] == ["unchanged"]


def test_fingerprint_key_rotation_recreates_no_phone(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    old_key = gateway.store.list_devices("jbloggs")[0].fingerprint_key_id
    new_key = gateway.store.rotate_fingerprint_key()
    assert new_key != old_key
    assert gateway.call()["update"] is False
    assert gateway.store.list_devices("jbloggs")[0].fingerprint_key_id == new_key
    assert gateway.call()["update"] is False


def test_reinstated_device_enrols_again_with_the_password(gateway: Gateway) -> None:
    gateway.call(reprovision="false")
    gateway.store.set_devices(None, "phone-1", status="revoked")
    assert gateway.call(reprovision="false")["errmsg"] == MESSAGES.revoked
    assert gateway.store.reinstate(None, "phone-1") == 1
    assert gateway.store.reinstate(None, "phone-1") == 0  # only revoked devices are reinstated
    assert gateway.call(password="wrong-one", reprovision="false")["update"] is False
    assert accounts(gateway.call(reprovision="false")) == ["1001"]
