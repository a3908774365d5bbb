"""AD bind sub-codes, userAccountControl bits and OpenLDAP's ppolicy control, decoded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.directory import ad, ppolicy
from gateway.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    InvalidCredentials,
    LogonRestricted,
    PasswordExpired,
    PasswordMustChange,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SAMBA = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {}, v1db1"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("52e", InvalidCredentials),
        ("525", InvalidCredentials),
        ("530", LogonRestricted),  # outside logonHours: lifts by itself, like a lockout
        ("531", LogonRestricted),  # not from this workstation
        ("533", AccountDisabled),
        ("532", PasswordExpired),
        ("701", AccountExpired),
        ("773", PasswordMustChange),
        ("775", AccountLocked),
        ("999", InvalidCredentials),
    ],
)
def test_ad_bind_subcodes(code: str, reason: type) -> None:
    assert ad.bind_rejection(SAMBA.format(code)) is reason


def test_bind_message_without_subcode_is_a_wrong_password() -> None:
    assert ad.bind_rejection("") is InvalidCredentials


def filetime(moment: datetime) -> str:
    return str(int(moment.timestamp() * 10_000_000) + 116444736000000000)


def test_user_account_control_bits() -> None:
    state = ad.account_state("514", "16", "0", "0", NOW)  # 512 + ACCOUNTDISABLE; lockout bit
    assert state.disabled and state.locked and state.must_change_password
    assert not state.expired and not state.password_expired
    assert ad.account_state("512", str(0x800000), "9223372036854775807", "133000000000000000", NOW).password_expired


def test_account_expiry_in_the_past_and_future() -> None:
    assert ad.account_state("512", "0", filetime(datetime(2026, 1, 1, tzinfo=UTC)), "1", NOW).expired
    assert not ad.account_state("512", "0", filetime(datetime(2027, 1, 1, tzinfo=UTC)), "1", NOW).expired


def test_object_guid_is_printed_like_ad_tools() -> None:
    raw = bytes.fromhex("78563412341278569abcdef012345678")
    assert ad.guid_to_str(raw) == "12345678-1234-5678-9abc-def012345678"


@pytest.mark.parametrize(
    ("value", "error", "reason"),
    [
        (bytes.fromhex("3003810100"), "passwordExpired", PasswordExpired),
        (bytes.fromhex("3003810101"), "accountLocked", AccountLocked),
        (bytes.fromhex("3003810102"), "changeAfterReset", PasswordMustChange),
        (bytes.fromhex("3009a0048002012c810101"), "accountLocked", AccountLocked),
    ],
)
def test_ppolicy_response_errors(value: bytes, error: str, reason: type) -> None:
    assert ppolicy.error_name(value) == error
    assert ppolicy.rejection(ppolicy.error_name(value)) is reason


@pytest.mark.parametrize("value", [None, b"", bytes.fromhex("3000"), bytes.fromhex("3004a0028000"), b"\x30\x05\x81"])
def test_ppolicy_without_error_or_unreadable_is_none(value: bytes | None) -> None:
    assert ppolicy.error_name(value) is None


def test_logon_hours_and_workstation_refusals_are_handled_like_a_lockout_not_a_leaver() -> None:
    from gateway.provisioning.directory_answer import rejection

    observed = rejection(None, ad.bind_rejection(SAMBA.format("530"))("bind refused"))
    assert observed.locked and observed.gone is None


@pytest.mark.parametrize(
    ("locked_time", "disabled"),
    [("000001010000Z", True), ("20261126110000Z", False), (None, False)],
)
def test_openldap_admin_lock_is_disabled_and_a_failure_lockout_is_left_to_the_bind(
    locked_time: str | None, disabled: bool
) -> None:
    from gateway.directory.entry import EntryReader

    raw = {"entryUUID": [b"k"], **({"pwdAccountLockedTime": [locked_time.encode()]} if locked_time else {})}
    user = EntryReader("openldap", "entryUUID").read("uid=u,dc=x", raw, frozenset(), NOW)
    assert user.state.disabled is disabled
    assert not user.state.locked  # a failure lockout may have run out: the bind's ppolicy control says
