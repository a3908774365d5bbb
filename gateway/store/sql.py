"""``SqlDeviceStore``: devices, audit trail, fingerprint keys and the safety valve over SQLAlchemy."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.errors import StoreRejected, StoreUnavailable
from gateway.field_limits import LIMITS
from gateway.fingerprint import FingerprintKeys
from gateway.models import Device, DeviceStatus, Event
from gateway.observer import NullObserver, Observer
from gateway.store.engine import READ_ONLY
from gateway.store.tables import devices, events, fingerprint_keys, gateway_state

log = logging.getLogger(__name__)
T = TypeVar("T")
VALVE = "safety_valve_tripped"

# The hot path's statements, built once: constructing a statement per call costs more than running it.
_DEVICE = select(devices).where(devices.c.user_key == bindparam("key"), devices.c.device_id == bindparam("device"))
_DEVICE_FOR_UPDATE = _DEVICE.with_for_update()
_ENROLLED_COUNT = select(func.count()).where(devices.c.user_key == bindparam("key"), devices.c.status == "enrolled")
_INSERT_DEVICE = insert(devices)
_UPDATE_DEVICE = update(devices).where(
    devices.c.user_key == bindparam("where_key"), devices.c.device_id == bindparam("where_device")
)
_INSERT_EVENT = insert(events)
_PRUNE_EVERY = timedelta(hours=1)
#: The database (or the way to it) failed, not the statement: an outage, answered "temporarily
#: unavailable". Anything else the database refuses (DataError, IntegrityError, ProgrammingError...)
#: is a bug, and asking again would be refused again: StoreRejected.
_OUTAGES = (OperationalError, InterfaceError, PoolTimeout, DisconnectionError)


class SqlTransaction:
    """The store work of one request, inside one database transaction."""

    def __init__(self, connection: Connection, now: datetime) -> None:
        self._c = connection
        self.now = now

    def execute(self, statement: Any) -> Any:
        """Run one statement in this transaction (for the store's own administration helpers)."""
        return self._c.execute(statement)

    def lock_device(self, user_key: str, device_id: str) -> Device | None:
        """The device row, locked until commit (``FOR UPDATE`` where the database has it)."""
        row = self._c.execute(_DEVICE_FOR_UPDATE, {"key": user_key, "device": device_id}).mappings().first()
        return _device(row) if row else None

    def count_enrolled(self, user_key: str) -> int:
        return int(self._c.execute(_ENROLLED_COUNT, {"key": user_key}).scalar_one())

    def save_device(self, device: Device) -> Device:
        """Insert or update (by user key and deviceId); the saved copy has its version bumped."""
        values = _row(device)
        if device.version == 0:
            values.update(version=1, first_seen=device.first_seen or self.now)
            self._c.execute(_INSERT_DEVICE, values)
            return replace(device, version=1, first_seen=values["first_seen"])
        values.update(version=device.version + 1, where_key=device.user_key, where_device=device.device_id)
        self._c.execute(_UPDATE_DEVICE, values)
        return replace(device, version=device.version + 1)

    def add_event(self, event: Event) -> None:
        self._c.execute(_INSERT_EVENT, _event_row(event))

    def count_events(self, outcome: str, since: datetime) -> int:
        query = select(func.count()).where(events.c.outcome == outcome, events.c.at >= since)
        return int(self._c.execute(query).scalar_one())

    def valve_tripped(self) -> str | None:
        """Why sign-outs are held, or None when they are allowed."""
        row = self._c.execute(select(gateway_state.c.value).where(gateway_state.c.name == VALVE)).first()
        return str(row[0]) if row else None

    def trip_valve(self, reason: str) -> None:
        if self.valve_tripped() is None:
            self._c.execute(insert(gateway_state).values(name=VALVE, value=reason, updated_at=self.now))


class SqlDeviceStore:
    def __init__(
        self,
        engine: Engine,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        fingerprint_key_override: bytes | None = None,
        event_retention_days: int = 90,
        observer: Observer | None = None,
    ) -> None:
        self.engine = engine
        self._observer: Observer = observer or NullObserver()
        self._now = now
        self._override = fingerprint_key_override
        self._retention = timedelta(days=event_retention_days)
        self._keys: FingerprintKeys | None = None
        self._keys_lock = threading.Lock()
        # SQLite has one writer at a time. Waiting threads would poll for its lock with growing
        # sleeps (up to 100 ms each, measured as 1 s tails under load); queueing them on a lock
        # here hands the write lock over at once. Server databases lock rows, not the database.
        self._writer: contextlib.AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )
        self._next_prune = datetime.min.replace(tzinfo=UTC)

    # -- one request ---------------------------------------------------------------------------

    def find_device(self, user_key: str, device_id: str) -> Device | None:
        def find(connection: Connection) -> Device | None:
            row = connection.execute(_DEVICE, {"key": user_key, "device": device_id}).mappings().first()
            return _device(row) if row else None

        return self._read(find)

    def find_device_by_login(self, login: str, device_id: str) -> Device | None:
        """The enrolled device this login last used with this deviceId (for users no longer found)."""
        query = (
            select(devices)
            .where(devices.c.login == login.lower(), devices.c.device_id == device_id, devices.c.status == "enrolled")
            .order_by(devices.c.last_seen.desc())
            .limit(1)
        )
        return self._read(lambda c: _first_device(c, query))

    def run(self, work: Callable[[SqlTransaction], T]) -> T:
        """Run ``work`` in one write transaction; a lost insert race is retried with the winner's row."""
        started = time.perf_counter()
        try:
            return self._run(work)
        finally:
            self._observer.store_call("write", time.perf_counter() - started)

    def _run(self, work: Callable[[SqlTransaction], T]) -> T:
        for attempt in range(3):
            try:
                with self._writer, self.engine.begin() as connection:
                    tx = SqlTransaction(connection, self._now())
                    result = work(tx)
                    self._prune_if_due(connection, tx.now)
                    return result
            except IntegrityError as exc:
                # Most likely a lost insert race: the next attempt finds the winner's row.
                if attempt == 2:
                    raise _store_error(exc) from None
            except SQLAlchemyError as exc:
                raise _store_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def fingerprint_keys(self, refresh: bool = False) -> FingerprintKeys:
        """The shared keys (created on first use); refreshed when a device names an unknown key."""
        with self._keys_lock:
            if self._keys is None or refresh:
                self._keys = self._load_keys()
            return self._keys

    # -- administration ------------------------------------------------------------------------

    def list_devices(self, user: str | None = None, device_id: str | None = None) -> list[Device]:
        query = select(devices).order_by(devices.c.login, devices.c.last_seen.desc())
        if user:
            query = query.where(_user_matches(user))
        if device_id:
            query = query.where(devices.c.device_id == device_id)
        return self._read(lambda c: [_device(r) for r in c.execute(query).mappings()])

    def set_devices(self, user: str | None, device_id: str | None, **values: Any) -> int:
        """Update matching devices (revoke, force update); returns how many changed."""
        where = []
        if user:
            where.append(_user_matches(user))
        if device_id:
            where.append(devices.c.device_id == device_id)
        if not where:
            raise ValueError("name a user or a device")
        statement = update(devices).where(*where).values(**values, version=devices.c.version + 1)
        return self.run(lambda tx: int(tx.execute(statement).rowcount))

    def reinstate(self, user: str | None, device_id: str | None) -> int:
        """Revoked devices back to signed out: their next call is an ordinary, password-checked enrolment."""
        where = [devices.c.status == "revoked"]
        if user:
            where.append(_user_matches(user))
        if device_id:
            where.append(devices.c.device_id == device_id)
        statement = update(devices).where(*where).values(status="signed_out", version=devices.c.version + 1)
        return self.run(lambda tx: int(tx.execute(statement).rowcount))

    def list_events(
        self,
        *,
        user: str | None = None,
        device_id: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        query = select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        if user:
            query = query.where((events.c.login == user.lower()) | (events.c.user_key == user))
        if device_id:
            query = query.where(events.c.device_id == device_id)
        if outcome:
            query = query.where(events.c.outcome == outcome)
        if since:
            query = query.where(events.c.at >= since)
        return self._read(lambda c: [_event(r) for r in c.execute(query).mappings()])

    def prune_devices(self, older_than: timedelta) -> int:
        cutoff = self._now() - older_than
        return self.run(lambda tx: int(tx.execute(delete(devices).where(devices.c.last_seen < cutoff)).rowcount))

    def valve_state(self) -> str | None:
        return self._read(lambda c: SqlTransaction(c, self._now()).valve_tripped())

    def reset_valve(self) -> bool:
        statement = delete(gateway_state).where(gateway_state.c.name == VALVE)
        return self.run(lambda tx: bool(tx.execute(statement).rowcount))

    def rotate_fingerprint_key(self) -> str:
        """Make a new current key; older ones stay until no device uses them."""

        def rotate(tx: SqlTransaction) -> str:
            count = int(tx.execute(select(func.count()).select_from(fingerprint_keys)).scalar_one())
            key_id = f"k{count + 1}"
            tx.execute(update(fingerprint_keys).values(current=False))
            tx.execute(
                insert(fingerprint_keys).values(
                    key_id=key_id, secret=secrets.token_hex(32), created_at=tx.now, current=True
                )
            )
            in_use = select(devices.c.fingerprint_key_id).where(devices.c.fingerprint_key_id.is_not(None))
            tx.execute(
                delete(fingerprint_keys).where(
                    fingerprint_keys.c.current.is_(False), fingerprint_keys.c.key_id.not_in(in_use)
                )
            )
            return key_id

        key_id = self.run(rotate)
        self.fingerprint_keys(refresh=True)
        return key_id

    # -- internals -----------------------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T]) -> T:
        started = time.perf_counter()
        try:
            with self.engine.connect().execution_options(**READ_ONLY) as connection:
                return work(connection)
        except SQLAlchemyError as exc:
            raise _store_error(exc) from None
        finally:
            self._observer.store_call("read", time.perf_counter() - started)

    def _load_keys(self) -> FingerprintKeys:
        def load(tx: SqlTransaction) -> list[Any]:
            rows = list(tx.execute(select(fingerprint_keys)).mappings())
            if not rows:
                tx.execute(
                    insert(fingerprint_keys).values(
                        key_id="k1", secret=secrets.token_hex(32), created_at=tx.now, current=True
                    )
                )
                rows = list(tx.execute(select(fingerprint_keys)).mappings())
            return rows

        rows = self.run(load)
        keys = {row["key_id"]: bytes.fromhex(row["secret"]) for row in rows}
        current = next(row["key_id"] for row in rows if row["current"])
        if self._override is not None:
            # Named after the key itself: a changed override is a new key, not a silent mismatch.
            current = "s-" + hashlib.sha256(b"key-id:" + self._override).hexdigest()[:8]
            keys[current] = self._override
        return FingerprintKeys(current, keys)

    def _prune_if_due(self, connection: Connection, now: datetime) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY
        removed = connection.execute(delete(events).where(events.c.at < now - self._retention)).rowcount
        if removed:
            log.info("audit trail: removed %d events older than %s days", removed, self._retention.days)


def _store_error(exc: SQLAlchemyError) -> StoreUnavailable | StoreRejected:
    """An outage (the connection failed) or a bug (the statement was refused); never quotes a value."""
    if isinstance(exc, _OUTAGES) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return StoreUnavailable(f"store unavailable: {type(exc).__name__}")
    return StoreRejected(f"the store refused a statement: {type(exc).__name__}")


def _user_matches(user: str) -> Any:
    lowered = user.lower()
    return (devices.c.login == lowered) | (devices.c.user_key == user) | (func.lower(devices.c.user_dn) == lowered)


def _first_device(connection: Connection, query: Any) -> Device | None:
    row = connection.execute(query).mappings().first()
    return _device(row) if row else None


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _device(row: Any) -> Device:
    return Device(
        user_key=row["user_key"],
        device_id=row["device_id"],
        status=DeviceStatus(row["status"]),
        login=row["login"],
        user_dn=row["user_dn"],
        account_fingerprint=row["account_fingerprint"],
        fingerprint_key_id=row["fingerprint_key_id"],
        password_changed_at=row["password_changed_at"],
        force_update=bool(row["force_update"]),
        first_seen=_aware(row["first_seen"]),
        last_seen=_aware(row["last_seen"]),
        last_source=row["last_source"],
        version=row["version"],
    )


def _row(device: Device) -> dict[str, Any]:
    return {
        "user_key": device.user_key,
        "device_id": device.device_id,
        "status": device.status.value,
        "login": device.login.lower(),
        "user_dn": device.user_dn,
        "account_fingerprint": device.account_fingerprint,
        "fingerprint_key_id": device.fingerprint_key_id,
        "password_changed_at": device.password_changed_at,
        "force_update": device.force_update,
        "last_seen": device.last_seen,
        "last_source": device.last_source[: LIMITS.source],
    }


def _event_row(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "outcome": event.outcome,
        "login": event.login.lower()[: LIMITS.username],
        "user_key": event.user_key,
        "device_id": event.device_id[: LIMITS.device_id],
        "source": event.source[: LIMITS.source],
        "detail": event.detail[: LIMITS.event_detail],
    }


def _event(row: Any) -> Event:
    return Event(
        at=_aware(row["at"]) or datetime.now(UTC),
        outcome=row["outcome"],
        login=row["login"],
        user_key=row["user_key"],
        device_id=row["device_id"],
        source=row["source"],
        detail=row["detail"],
    )
