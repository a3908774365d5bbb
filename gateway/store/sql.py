"""``SqlDeviceStore``: devices, audit trail, fingerprint keys and the safety valve over SQLAlchemy."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
from gateway.models import Device, DeviceStatus, Event
from gateway.provisioning.fingerprint import FingerprintKeys
from gateway.provisioning.telemetry import NullTelemetry, Telemetry
from gateway.store.engine import READ_ONLY
from gateway.store.pending_counts import Flusher, PendingCounts
from gateway.store.tables import devices, event_counts, events, fingerprint_keys, gateway_state

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
_FIRST_PRUNE_AFTER = timedelta(minutes=10)
#: Rows deleted per prune transaction: each batch holds SQLite's one write lock for milliseconds.
_PRUNE_BATCH = 1000
#: Where counted failures beyond a cap go (a source, or a user key), so nothing goes uncounted.
OTHER = "(other)"
#: Distinct sources whose failures are counted in one hour; the failures of later sources that
#: hour are counted under the source ``(other)``.
MAX_COUNTED_SOURCES = 50
#: Rows (minute x outcome x directory user) one source may add in one hour; later failures of that
#: source are counted in one ``(other)`` row per outcome at the hour's start.
MAX_ROWS_PER_SOURCE = 200
_COUNT_BUMP = (
    update(event_counts)
    .where(
        event_counts.c.minute == bindparam("k_minute"),
        event_counts.c.source == bindparam("k_source"),
        event_counts.c.outcome == bindparam("k_outcome"),
        event_counts.c.user_key == bindparam("k_user_key"),
    )
    .values(count=event_counts.c.count + bindparam("k_amount"), last_at=bindparam("k_at"), login=bindparam("k_login"))
)
_SOURCE_SEEN = select(event_counts.c.id).where(
    event_counts.c.source == bindparam("source"), event_counts.c.minute >= bindparam("hour")
)
_SOURCES_IN_HOUR = select(func.count(event_counts.c.source.distinct())).where(
    event_counts.c.minute >= bindparam("hour")
)
_ROWS_OF_SOURCE = select(func.count()).where(
    event_counts.c.source == bindparam("source"), event_counts.c.minute >= bindparam("hour")
)
#: The database (or the way to it) failed, not the statement: an outage, answered "temporarily
#: unavailable". Anything else the database refuses (DataError, IntegrityError, ProgrammingError...)
#: is a bug, and asking again would be refused again: StoreRejected.
_OUTAGES = (OperationalError, InterfaceError, PoolTimeout, DisconnectionError)


@dataclass(frozen=True)
class EventCount:
    """Failed calls counted together: ``count`` calls from ``source`` answered ``outcome`` in the
    minute starting at ``minute`` (for ``user_key``/``login`` when they named a directory user).
    A ``(other)`` source or user key holds what went beyond the caps; its ``minute`` is the hour's."""

    minute: datetime
    outcome: str
    source: str
    count: int
    last_at: datetime
    user_key: str = ""
    login: str = ""


class SqlTransaction:
    """The store work of one request, inside one database transaction."""

    def __init__(
        self,
        connection: Connection,
        now: datetime,
        *,
        max_sources: int = MAX_COUNTED_SOURCES,
        max_rows_per_source: int = MAX_ROWS_PER_SOURCE,
    ) -> None:
        self._c = connection
        self.now = now
        self._max_sources = max_sources
        self._max_rows = max_rows_per_source

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

    def count_event(self, event: Event, amount: int = 1) -> None:
        """Count a failed call that changes no device and concerns no known device, in the row of
        its minute, source, outcome and directory user (an UPSERT), instead of a row of its own.
        An unknown login is not kept (it is caller-chosen, and sometimes a password typed in the
        wrong field); the deviceId and the reason are not kept either. Beyond the caps, the call
        is counted under ``(other)``: rows per hour stay bounded whatever the caller sends."""
        at = event.at
        hour = at.replace(minute=0, second=0, microsecond=0)
        user_key = event.user_key[: LIMITS.user_key]
        login = event.login.lower()[: LIMITS.username] if user_key else ""
        key: dict[str, Any] = {
            "minute": at.replace(second=0, microsecond=0),
            "source": event.source[: LIMITS.source],
            "outcome": event.outcome,
            "user_key": user_key,
        }
        if self._bump(key, at, login, amount):
            return
        if self._new_source_over_cap(key["source"], hour):
            key["source"] = OTHER
            if self._bump(key, at, login, amount):
                return
        rows = int(self._c.execute(_ROWS_OF_SOURCE, {"source": key["source"], "hour": hour}).scalar_one())
        if rows >= self._max_rows:
            key.update(minute=hour, user_key=OTHER)
            login = ""
        self._upsert(key, at, login, amount)

    def _new_source_over_cap(self, source: str, hour: datetime) -> bool:
        """A source with no row yet this hour, when the hour already counts the most sources it may."""
        if self._c.execute(_SOURCE_SEEN, {"source": source, "hour": hour}).first() is not None:
            return False
        return int(self._c.execute(_SOURCES_IN_HOUR, {"hour": hour}).scalar_one()) >= self._max_sources

    def _bump(self, key: dict[str, Any], at: datetime, login: str, amount: int) -> bool:
        values = {f"k_{name}": value for name, value in key.items()}
        bump = {**values, "k_at": at, "k_login": login, "k_amount": amount}
        return bool(self._c.execute(_COUNT_BUMP, bump).rowcount)

    def _upsert(self, key: dict[str, Any], at: datetime, login: str, amount: int) -> None:
        """Insert the row, or add to it when a concurrent call inserted it first."""
        row = {**key, "login": login, "count": amount, "last_at": at}
        dialect = self._c.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            self._c.execute(insert(event_counts).values(row))  # a lost race: IntegrityError, run() retries
            return
        new = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(event_counts).values(row)
        self._c.execute(
            new.on_conflict_do_update(
                index_elements=list(key),
                set_={
                    "count": event_counts.c.count + new.excluded.count,
                    "last_at": new.excluded.last_at,
                    "login": new.excluded.login,
                },
            )
        )

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
        telemetry: Telemetry | None = None,
        max_counted_sources: int = MAX_COUNTED_SOURCES,
        max_rows_per_source: int = MAX_ROWS_PER_SOURCE,
    ) -> None:
        self.engine = engine
        self._caps = {"max_sources": max_counted_sources, "max_rows_per_source": max_rows_per_source}
        self._telemetry: Telemetry = telemetry or NullTelemetry()
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
        # The first prune waits a while: a command's or a test's short-lived store never starts one.
        self._next_prune = self._now() + _FIRST_PRUNE_AFTER
        self._prune_lock = threading.Lock()
        self._pruner: threading.Thread | None = None
        self._counts = PendingCounts()
        self._flusher: Flusher | None = None
        self._flusher_lock = threading.Lock()
        self._flushing = threading.Lock()  # one write of the counts at a time: a reader waits for it

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
            result = self._run(work)
        finally:
            self._telemetry.store_call("write", time.perf_counter() - started)
        self._prune_if_due()
        return result

    def _run(self, work: Callable[[SqlTransaction], T]) -> T:
        for attempt in range(3):
            try:
                with self._writer, self.engine.begin() as connection:
                    tx = SqlTransaction(connection, self._now(), **self._caps)
                    return work(tx)
            except IntegrityError as exc:
                # Most likely a lost insert race: the next attempt finds the winner's row.
                if attempt == 2:
                    raise _store_error(exc) from None
            except SQLAlchemyError as exc:
                raise _store_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self) -> None:
        """Raise unless the database answers (``/readyz``)."""
        with self.engine.connect() as connection:
            connection.execute(select(1))

    def count_later(self, event: Event) -> None:
        """Count a failed call that concerns no known device (``SqlTransaction.count_event``):
        added in memory now, written with the other counts of the same second by a background
        thread, so a flood of failing calls costs no write transaction each."""
        self._counts.add(event)
        if self._flusher is None:
            with self._flusher_lock:
                if self._flusher is None:
                    self._flusher = Flusher(self.flush_counts)

    def flush_counts(self) -> None:
        """Write the pending counts in one transaction (an outage keeps them for the next try)."""
        with self._flushing:
            self._flush_counts()

    def _flush_counts(self) -> None:
        counts = self._counts.take()
        if not counts:
            return
        try:
            self._run(lambda tx: _count_all(tx, counts))
        except StoreUnavailable as exc:
            self._counts.give_back(counts)
            log.warning("device store unavailable: %d failure count(s) kept for the next write (%s)", len(counts), exc)
        except Exception:  # a background thread must not die; the counts are advisory
            log.exception("failure counts not written")

    def close(self) -> None:
        """Write what is pending and stop the background writer (at shutdown)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()

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

    def list_event_counts(
        self,
        *,
        user: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[EventCount]:
        """Counted failures, newest minute first (``since`` compares the minute's start)."""
        self.flush_counts()
        table = event_counts
        query = select(table).order_by(table.c.minute.desc(), table.c.last_at.desc(), table.c.id.desc()).limit(limit)
        if user:
            query = query.where((table.c.login == user.lower()) | (table.c.user_key == user))
        if outcome:
            query = query.where(table.c.outcome == outcome)
        if since:
            query = query.where(table.c.minute >= since.replace(second=0, microsecond=0))
        return self._read(lambda c: [_event_count(r) for r in c.execute(query).mappings()])

    def wait_for_prune(self, timeout: float = 30.0) -> None:
        """Wait for a prune in progress on its background thread (tests, and a command about to exit)."""
        pruner = self._pruner
        if pruner is not None:
            pruner.join(timeout)

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
            self._telemetry.store_call("read", time.perf_counter() - started)

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

    def _prune_if_due(self) -> None:
        """At most hourly, delete what is older than the retention on a background thread, in
        short transactions of its own: never inside (or in front of) a request's write."""
        now = self._now()
        with self._prune_lock:
            if now < self._next_prune or (self._pruner is not None and self._pruner.is_alive()):
                return
            self._next_prune = now + _PRUNE_EVERY
            self._pruner = threading.Thread(target=self._prune, args=(now,), name="store-prune", daemon=True)
            self._pruner.start()

    def _prune(self, now: datetime) -> None:
        cutoff = now - self._retention
        try:
            removed = self._delete_older(events, events.c.at, cutoff)
            counted = self._delete_older(event_counts, event_counts.c.minute, cutoff)
        except SQLAlchemyError as exc:
            log.warning("audit trail: pruning failed (%s); retried in an hour", _store_error(exc))
            return
        if removed or counted:
            log.info(
                "audit trail: removed %d events and %d counted-failure rows older than %s days",
                removed,
                counted,
                self._retention.days,
            )

    def _delete_older(self, table: Any, moment: Any, cutoff: datetime) -> int:
        """Delete in batches of ``_PRUNE_BATCH`` rows, one short transaction each."""
        batch = delete(table).where(
            table.c.id.in_(select(table.c.id).where(moment < cutoff).order_by(table.c.id).limit(_PRUNE_BATCH))
        )
        removed = 0
        while True:
            with self._writer, self.engine.begin() as connection:
                deleted = int(connection.execute(batch).rowcount)
            removed += deleted
            if deleted < _PRUNE_BATCH:
                return removed


def _store_error(exc: SQLAlchemyError) -> StoreUnavailable | StoreRejected:
    """An outage (the connection failed) or a bug (the statement was refused); never quotes a value."""
    if isinstance(exc, _OUTAGES) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return StoreUnavailable(f"store unavailable: {type(exc).__name__}")
    return StoreRejected(f"the store refused a statement: {type(exc).__name__}")


def _count_all(tx: SqlTransaction, counts: list[tuple[Event, int]]) -> None:
    for event, amount in counts:
        tx.count_event(event, amount)


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


def _event_count(row: Any) -> EventCount:
    return EventCount(
        minute=_aware(row["minute"]) or datetime.now(UTC),
        outcome=row["outcome"],
        source=row["source"],
        count=int(row["count"]),
        last_at=_aware(row["last_at"]) or datetime.now(UTC),
        user_key=row["user_key"],
        login=row["login"],
    )


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
