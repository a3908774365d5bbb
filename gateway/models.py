"""The product's vocabulary: who logged in, what the phone receives, what the gateway decided."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

#: An LDAP attribute type as a name or an OID (RFC 4512 ``descr`` / ``numericoid``), no options.
ATTRIBUTE_TYPE = r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+"
#: The seed's account fields every account carries.
REQUIRED_ACCOUNT_FIELDS = ("sipusername", "sippassword", "transport")
#: The seed's optional account fields, in the order the seed lists them.
OPTIONAL_ACCOUNT_FIELDS = (
    "subdomain",
    "authusername",
    "srtp",
    "proxy",
    "messaging",
    "video",
    "callrecording",
)
#: Optional fields whose only values are "Enabled" / "Disabled".
FLAG_FIELDS = ("srtp", "messaging", "video", "callrecording")
TRANSPORTS = ("UDP", "TCP", "TLS")


@dataclass(frozen=True)
class SipAccount:
    """One provisioned account, with exactly the seed's field names."""

    sipusername: str
    sippassword: str = field(repr=False)
    transport: str
    subdomain: str | None = None
    authusername: str | None = None
    srtp: str | None = None
    proxy: str | None = None
    messaging: str | None = None
    video: str | None = None
    callrecording: str | None = None

    def to_json(self) -> dict[str, str]:
        """The JSON object SessionTalk expects: optional fields omitted, never null."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    def masked(self) -> SipAccount:
        """A copy safe to print: the SIP secret replaced by a mask."""
        return replace(self, sippassword="********" if self.sippassword else "")


class AttributeValues:
    """Directory attributes of one entry, looked up case-insensitively (LDAP names are)."""

    def __init__(self, values: Mapping[str, Iterable[str]]) -> None:
        self._values = {name.lower(): tuple(v) for name, v in values.items()}

    def get(self, name: str) -> tuple[str, ...]:
        return self._values.get(name.lower(), ())

    def first(self, name: str) -> str | None:
        found = self.get(name)
        return found[0] if found else None

    def names(self) -> frozenset[str]:
        return frozenset(self._values)

    def __repr__(self) -> str:  # values may hold SIP secrets: names only
        return f"AttributeValues({sorted(self._values)})"


@dataclass(frozen=True)
class AccountState:
    """What the service-account search tells about the account, before any bind."""

    disabled: bool = False
    locked: bool = False
    expired: bool = False
    password_expired: bool = False
    must_change_password: bool = False


@dataclass(frozen=True)
class DirectoryUser:
    """A user entry as the gateway sees it.

    ``key`` is the directory's immutable identifier (AD objectGUID, OpenLDAP entryUUID), so a
    renamed user keeps their phones; ``groups`` holds the lower-cased DNs of the groups the
    entitlement check and the schema ask about (nested where the directory supports it).
    """

    dn: str
    key: str
    attributes: AttributeValues
    groups: frozenset[str] = frozenset()
    state: AccountState = AccountState()
    password_changed_at: str | None = None

    def is_member_of(self, group_dn: str) -> bool:
        return normalize_dn(group_dn) in self.groups


def normalize_dn(dn: str) -> str:
    """Compare DNs the way admins write them: case and spaces after commas do not matter."""
    return ",".join(part.strip() for part in dn.split(",")).lower()


@dataclass(frozen=True)
class ProvisioningRequest:
    """One validated call from a SessionTalk app."""

    username: str
    password: str = field(repr=False)
    reprovision: bool
    device_id: str
    source_address: str = ""


class Outcome(enum.Enum):
    """Why the gateway answered as it did: for logs, metrics and the audit trail, never sent to the phone."""

    ENROLLED = "enrolled"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    SIGNED_OUT = "signed_out"
    REVOKED = "revoked"
    SIGN_IN_AGAIN = "sign_in_again"
    LOGIN_FAILED = "login_failed"
    PASSWORD_MUST_CHANGE = "password_must_change"
    PASSWORD_EXPIRED = "password_expired"
    LOCKED = "locked"
    NO_ACCOUNTS = "no_accounts"
    DEVICE_LIMIT = "device_limit"
    UNAVAILABLE = "unavailable"
    SIGN_OUT_HELD = "sign_out_held"
    RATE_LIMITED = "rate_limited"


class DeviceStatus(enum.Enum):
    """A device is *enrolled* after a successful login, *signed out* after the gateway signed it
    out, *revoked* after an administrator removed it."""

    ENROLLED = "enrolled"
    SIGNED_OUT = "signed_out"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Device:
    """One installation of the app for one user (DESIGN §7). Nothing secret is kept here."""

    user_key: str
    device_id: str
    status: DeviceStatus
    login: str = ""
    user_dn: str = ""
    account_fingerprint: str | None = None
    fingerprint_key_id: str | None = None
    password_changed_at: str | None = None
    force_update: bool = False
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_source: str = ""
    version: int = 0


@dataclass(frozen=True)
class Event:
    """One line of the audit trail: what a call was answered, and why."""

    at: datetime
    outcome: str
    login: str = ""
    user_key: str = ""
    device_id: str = ""
    source: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ProvisioningResult:
    """The answer to one call (DESIGN §3): always HTTP 200 with these three fields."""

    update: bool
    accounts: tuple[SipAccount, ...]
    errmsg: str
    outcome: Outcome

    def to_json(self) -> dict[str, object]:
        return {
            "update": self.update,
            "sipaccounts": [account.to_json() for account in self.accounts],
            "errmsg": self.errmsg,
        }
