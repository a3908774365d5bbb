"""Turning a search result entry into a ``DirectoryUser``, per directory flavour."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.directory import ad
from gateway.mapping.spec import Flavour
from gateway.models import AccountState, AttributeValues, DirectoryUser, normalize_dn

#: Attributes each flavour reads to know the account's state and password-change marker.
STATE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "active-directory": (
        "userAccountControl",
        "msDS-User-Account-Control-Computed",
        "accountExpires",
        "pwdLastSet",
    ),
    "openldap": ("pwdAccountLockedTime", "pwdChangedTime", "pwdEndTime", "pwdReset"),
    "generic": (),
}
PASSWORD_MARKER = {"active-directory": "pwdLastSet", "openldap": "pwdChangedTime"}
BINARY_KEYS = frozenset({"objectguid"})
#: pwdAccountLockedTime value for "locked until an administrator unlocks": an administrator's
#: deliberate lock (a lockout after failed binds carries the time it happened instead).
OPENLDAP_ADMIN_LOCK = "000001010000Z"
#: GeneralizedTime (RFC 4517): YYYYMMDDHH[MM[SS]][.fraction](Z|+hhmm|-hhmm).
_GENERALIZED_TIME = re.compile(r"(\d{10}(?:\d\d){0,2})(?:[.,]\d+)?(Z|[+-]\d{4})")


@dataclass(frozen=True)
class EntryReader:
    flavour: Flavour
    user_key: str

    def requested(self, schema_attributes: frozenset[str], member_attribute: str | None) -> list[str]:
        names = {self.user_key, *schema_attributes, *STATE_ATTRIBUTES[self.flavour]}
        if member_attribute:
            names.add(member_attribute)
        names.discard("dn")
        return sorted(names, key=str.lower)

    def read(
        self,
        dn: str,
        raw_attributes: Mapping[str, Sequence[bytes]],
        groups: frozenset[str] | None,
        now: datetime,
        member_attribute: str | None = None,
    ) -> DirectoryUser:
        """Build the user; ``groups`` None means: take them from ``member_attribute`` values."""
        text = {name: [_decode(v) for v in values] for name, values in raw_attributes.items()}
        attributes = AttributeValues(text)
        if groups is None:
            values = attributes.get(member_attribute) if member_attribute else ()
            groups = frozenset(normalize_dn(v) for v in values)
        return DirectoryUser(
            dn=dn,
            key=self._key(dn, raw_attributes),
            attributes=attributes,
            groups=groups,
            state=self._state(attributes, now),
            password_changed_at=attributes.first(PASSWORD_MARKER.get(self.flavour, "")),
        )

    def _key(self, dn: str, raw_attributes: Mapping[str, Sequence[bytes]]) -> str:
        if self.user_key.lower() == "dn":
            return normalize_dn(dn)
        for name, values in raw_attributes.items():
            if name.lower() == self.user_key.lower() and values:
                raw = values[0]
                if name.lower() in BINARY_KEYS and isinstance(raw, bytes):
                    return ad.guid_to_str(raw)
                return _decode(raw)
        return normalize_dn(dn)  # no key attribute readable: fall back to the DN

    def _state(self, attributes: AttributeValues, now: datetime) -> AccountState:
        if self.flavour == "active-directory":
            return ad.account_state(
                attributes.first("userAccountControl"),
                attributes.first("msDS-User-Account-Control-Computed"),
                attributes.first("accountExpires"),
                attributes.first("pwdLastSet"),
                now,
            )
        if self.flavour == "openldap":
            # 000001010000Z is an administrator's permanent lock: OpenLDAP's "disabled" (the phone
            # is signed out). A lockout after failed binds carries its own time and may run out
            # (pwdLockoutDuration, in the policy entry): left to the bind, whose ppolicy control
            # says accountLocked, and which keeps the phone's accounts (it may be an attacker's doing).
            # pwdEndTime (ppolicy, OpenLDAP 2.5+) is the account's end: AD's accountExpires.
            return AccountState(
                disabled=attributes.first("pwdAccountLockedTime") == OPENLDAP_ADMIN_LOCK,
                must_change_password=(attributes.first("pwdReset") or "").upper() == "TRUE",
                expired=_generalized_time_passed(attributes.first("pwdEndTime"), now),
            )
        return AccountState()


def _generalized_time_passed(value: str | None, now: datetime) -> bool:
    """Is this GeneralizedTime at or before ``now``? An unreadable value counts as not passed."""
    found = _GENERALIZED_TIME.fullmatch((value or "").strip())
    if not found:
        return False
    digits, zone = found.groups()
    try:
        when = datetime.strptime(digits.ljust(14, "0") + ("+0000" if zone == "Z" else zone), "%Y%m%d%H%M%S%z")
    except ValueError:
        return False
    return when <= now.astimezone(UTC)


def _decode(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")
