"""The update decision table (DESIGN §3) as a pure function: one test row per table row."""

from __future__ import annotations

import pytest

from gateway.models import Device, DeviceStatus, Outcome, SipAccount
from gateway.provisioning.decision import Facts, Gone, Login, Message, Verdict, decide

ACCOUNTS = (SipAccount(sipusername="1001", sippassword="s", transport="TLS"),)


def device(status: DeviceStatus = DeviceStatus.ENROLLED, *, force_update: bool = False) -> Device:
    return Device(user_key="k", device_id="d", status=status, force_update=force_update, version=1)


def ok(**facts: object) -> Facts:
    base: dict[str, object] = {"reprovision": True, "login": Login.OK, "accounts": ACCOUNTS}
    base.update(facts)
    return Facts(**base)  # type: ignore[arg-type]


ENROLMENT = Verdict(
    True,
    Outcome.ENROLLED,
    accounts=ACCOUNTS,
    status=DeviceStatus.ENROLLED,
    remember_accounts=True,
    remember_password=True,
)
SIGNED_OUT = Verdict(True, Outcome.SIGNED_OUT, Message.SIGNED_OUT, status=DeviceStatus.SIGNED_OUT)
SIGN_IN_AGAIN = Verdict(True, Outcome.SIGN_IN_AGAIN, Message.SIGN_IN_AGAIN, status=DeviceStatus.SIGNED_OUT)
FAILED = Verdict(False, Outcome.LOGIN_FAILED, Message.LOGIN_FAILED)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        # enrolment: unknown device with either reprovision value, a signed-out device, or reprovision=false
        pytest.param(ok(reprovision=False), ENROLMENT, id="unknown-device-first-setup"),
        pytest.param(ok(reprovision=True), ENROLMENT, id="unknown-device-migrated-with-reprovision-true"),
        pytest.param(ok(device=device(DeviceStatus.SIGNED_OUT)), ENROLMENT, id="signed-out-device-signs-in"),
        pytest.param(
            ok(device=device(), reprovision=False, accounts_changed=False), ENROLMENT, id="enrolled-device-set-up-again"
        ),
        # enrolled, unchanged / changed / forced
        pytest.param(
            ok(device=device(), accounts_changed=False),
            Verdict(False, Outcome.UNCHANGED, status=DeviceStatus.ENROLLED, remember_password=True),
            id="unchanged",
        ),
        pytest.param(
            ok(device=device(), accounts_changed=True),
            Verdict(
                True,
                Outcome.CHANGED,
                accounts=ACCOUNTS,
                status=DeviceStatus.ENROLLED,
                remember_accounts=True,
                remember_password=True,
            ),
            id="changed",
        ),
        pytest.param(
            ok(device=device(force_update=True), accounts_changed=False),
            Verdict(
                True,
                Outcome.CHANGED,
                accounts=ACCOUNTS,
                status=DeviceStatus.ENROLLED,
                remember_accounts=True,
                remember_password=True,
            ),
            id="admin-forced-update",
        ),
        # enrolled device whose user is gone: signed out
        *[
            pytest.param(Facts(reprovision=True, device=device(), gone=gone), SIGNED_OUT, id=f"enrolled-{gone.value}")
            for gone in Gone
        ],
        pytest.param(
            ok(device=device(DeviceStatus.REVOKED)),
            Verdict(True, Outcome.REVOKED, Message.REVOKED, status=DeviceStatus.REVOKED),
            id="revoked",
        ),
        # password rows
        pytest.param(
            Facts(reprovision=True, device=device(), password_changed=True),
            SIGN_IN_AGAIN,
            id="password-changed-no-bind",
        ),
        pytest.param(
            Facts(reprovision=True, device=device(), login=Login.WRONG_PASSWORD),
            SIGN_IN_AGAIN,
            id="saved-password-now-fails",
        ),
        # enrolment failures: one generic answer
        pytest.param(Facts(reprovision=False, login=Login.WRONG_PASSWORD), FAILED, id="wrong-password"),
        pytest.param(Facts(reprovision=False, gone=Gone.DELETED), FAILED, id="unknown-user"),
        pytest.param(Facts(reprovision=False, gone=Gone.DISABLED), FAILED, id="disabled-at-enrolment"),
        pytest.param(Facts(reprovision=False, gone=Gone.NOT_ENTITLED), FAILED, id="not-entitled-at-enrolment"),
        pytest.param(Facts(reprovision=False, locked=True), FAILED, id="locked-at-enrolment"),
        pytest.param(
            Facts(reprovision=True, device=device(DeviceStatus.SIGNED_OUT), login=Login.WRONG_PASSWORD),
            FAILED,
            id="signed-out-device-wrong-password",
        ),
        # right password, but it must change / has expired
        pytest.param(
            Facts(reprovision=False, login=Login.MUST_CHANGE),
            Verdict(False, Outcome.PASSWORD_MUST_CHANGE, Message.PASSWORD_MUST_CHANGE),
            id="must-change",
        ),
        pytest.param(
            Facts(reprovision=False, login=Login.EXPIRED),
            Verdict(False, Outcome.PASSWORD_EXPIRED, Message.PASSWORD_EXPIRED),
            id="password-expired",
        ),
        # no account could be built
        pytest.param(
            Facts(reprovision=False, login=Login.OK, gone=Gone.NO_ACCOUNTS),
            Verdict(False, Outcome.NO_ACCOUNTS, Message.NO_ACCOUNTS),
            id="no-extension-at-enrolment",
        ),
        # a locked account keeps an enrolled phone working
        pytest.param(
            Facts(reprovision=True, device=device(), locked=True),
            Verdict(False, Outcome.LOCKED, status=DeviceStatus.ENROLLED),
            id="enrolled-device-locked-user",
        ),
        # device limit
        pytest.param(
            ok(other_enrolled_devices=5, max_devices=5),
            Verdict(False, Outcome.DEVICE_LIMIT, Message.DEVICE_LIMIT),
            id="device-limit",
        ),
        pytest.param(
            ok(device=device(), reprovision=False, other_enrolled_devices=5, max_devices=5),
            ENROLMENT,
            id="enrolled-device-does-not-count-against-the-limit",
        ),
        # no bind was made, and the device changed meanwhile: keep what the phone has
        pytest.param(
            Facts(reprovision=True, device=device(DeviceStatus.SIGNED_OUT)),
            Verdict(False, Outcome.UNCHANGED),
            id="concurrent-change-without-bind",
        ),
    ],
)
def test_decision_table(facts: Facts, expected: Verdict) -> None:
    assert decide(facts) == expected


def test_revocation_wins_over_everything() -> None:
    assert decide(Facts(reprovision=True, device=device(DeviceStatus.REVOKED), gone=Gone.DELETED)).outcome is (
        Outcome.REVOKED
    )


def test_sign_outs_never_come_from_an_unknown_device() -> None:
    for gone in Gone:
        assert decide(Facts(reprovision=True, gone=gone)).update is False
