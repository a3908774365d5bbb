"""What the service needs from the device store, as protocols: the service depends on these, and
``gateway.store.sql`` (SQLAlchemy) and ``gateway.directory.ldap`` (ldap3) implement them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from gateway.models import Device, DirectoryUser, Event
from gateway.provisioning.fingerprint import FingerprintKeys

T = TypeVar("T")


class StoreTransaction(Protocol):
    """One write transaction: a decision and its records commit together."""

    now: datetime

    def lock_device(self, user_key: str, device_id: str) -> Device | None: ...

    def count_enrolled(self, user_key: str) -> int: ...

    def save_device(self, device: Device) -> Device: ...

    def add_event(self, event: Event) -> None: ...

    def count_event(self, event: Event, amount: int = 1) -> None: ...

    def count_events(self, outcome: str, since: datetime) -> int: ...

    def valve_tripped(self) -> str | None: ...

    def trip_valve(self, reason: str) -> None: ...


class DeviceStore(Protocol):
    """Devices, their audit trail and the shared fingerprint keys (DESIGN §7)."""

    def find_device(self, user_key: str, device_id: str) -> Device | None: ...

    def find_device_by_login(self, login: str, device_id: str) -> Device | None: ...

    def run(self, work: Callable[[StoreTransaction], T]) -> T: ...

    def count_later(self, event: Event) -> None: ...

    def fingerprint_keys(self, refresh: bool = False) -> FingerprintKeys: ...

    def close(self) -> None: ...


class Directory(Protocol):
    """What the provisioning service needs from a directory."""

    @property
    def searches_before_bind(self) -> bool:
        """True in search mode: ``find_user`` can answer before any password is checked."""

    def find_user(self, login: str) -> DirectoryUser | None:
        """Search the user with the service account. ``None``: no such user (definitive).

        Raises ``DirectoryUnavailable`` when no server answered definitively.
        """

    def verify_password(self, login: str, password: str, user: DirectoryUser | None) -> DirectoryUser:
        """Bind as the user; return the entry (read after the bind in direct mode).

        Raises a ``LoginRejected`` subclass saying why, or ``DirectoryUnavailable``.
        """

    def canary(self) -> bool:
        """Does the search base still hold users? Checked before a user counts as deleted, so a
        wrong base DN or filter, or a lost ACL, looks like an outage and signs no phone out."""
