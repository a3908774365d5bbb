"""Active Directory specifics: bind sub-codes, userAccountControl bits, FILETIME values."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from gateway.errors import (
    AccountDisabled,
    AccountExpired,
    AccountLocked,
    InvalidCredentials,
    LoginRejected,
    LogonRestricted,
    PasswordExpired,
    PasswordMustChange,
)
from gateway.models import AccountState

#: LDAP_MATCHING_RULE_IN_CHAIN: AD's transitive ("nested groups") matching rule.
IN_CHAIN = "1.2.840.113556.1.4.1941"

_SUBCODE = re.compile(r"\bdata ([0-9a-fA-F]{3,8})\b")

#: AD's "data XXX" in a failed bind's diagnostic message. Except 775, AD returns these only when
#: the password was right (measured on Samba 4.17; see docs/active-directory.md).
BIND_SUBCODES: dict[str, type[LoginRejected]] = {
    "525": InvalidCredentials,  # no such user
    "52e": InvalidCredentials,  # wrong password
    "530": LogonRestricted,  # not permitted to log on at this time (logonHours): lifts by itself
    "531": LogonRestricted,  # not permitted to log on at this workstation (userWorkstations)
    "532": PasswordExpired,
    "533": AccountDisabled,
    "701": AccountExpired,
    "773": PasswordMustChange,
    "775": AccountLocked,
}

UF_ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
UF_PASSWORD_EXPIRED = 0x800000
_NEVER = {0, 0x7FFFFFFFFFFFFFFF}
_EPOCH_AS_FILETIME = 116444736000000000


def bind_rejection(message: str) -> type[LoginRejected]:
    """Map a failed bind's diagnostic message to the reason; unknown codes are a wrong password."""
    found = _SUBCODE.search(message or "")
    if not found:
        return InvalidCredentials
    return BIND_SUBCODES.get(found.group(1).lower(), InvalidCredentials)


def account_state(
    user_account_control: str | None,
    computed_control: str | None,
    account_expires: str | None,
    pwd_last_set: str | None,
    now: datetime,
) -> AccountState:
    """What the service account's search says about an AD account, before any bind."""
    uac = _as_int(user_account_control)
    computed = _as_int(computed_control)
    return AccountState(
        disabled=bool(uac & UF_ACCOUNTDISABLE),
        locked=bool(computed & UF_LOCKOUT),
        password_expired=bool(computed & UF_PASSWORD_EXPIRED),
        must_change_password=pwd_last_set == "0",
        expired=_filetime_passed(account_expires, now),
    )


def guid_to_str(raw: bytes) -> str:
    """objectGUID (little-endian binary) in the form AD tools print."""
    return str(uuid.UUID(bytes_le=raw)) if len(raw) == 16 else raw.hex()


def _as_int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def _filetime_passed(value: str | None, now: datetime) -> bool:
    filetime = _as_int(value)
    if filetime in _NEVER:
        return False
    now_filetime = int(now.astimezone(UTC).timestamp() * 10_000_000) + _EPOCH_AS_FILETIME
    return filetime <= now_filetime
