"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` create them.

Columns that hold a request's values (or the directory's) are as wide as ``gateway.field_limits``
says, the table the HTTP edge checks requests against.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.field_limits import LIMITS

metadata = MetaData()

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_key", String(LIMITS.user_key), nullable=False),
    Column("device_id", String(LIMITS.device_id), nullable=False),
    Column("status", String(16), nullable=False),
    Column("login", String(LIMITS.username), nullable=False, default=""),
    Column("user_dn", String(LIMITS.user_dn), nullable=False, default=""),
    Column("account_fingerprint", String(64)),
    Column("fingerprint_key_id", String(32)),
    Column("password_changed_at", String(64)),
    Column("force_update", Boolean, nullable=False, default=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("last_source", String(LIMITS.source), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    UniqueConstraint("user_key", "device_id", name="uq_devices_user_device"),
    Index("ix_devices_login_device", "login", "device_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("login", String(LIMITS.username), nullable=False, default=""),
    Column("user_key", String(LIMITS.user_key), nullable=False, default=""),
    Column("device_id", String(LIMITS.device_id), nullable=False, default=""),
    Column("source", String(LIMITS.source), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),  # cut to LIMITS.event_detail by the store
    Index("ix_events_at", "at"),
    Index("ix_events_outcome_at", "outcome", "at"),
)

#: Failed calls that change no device and concern no known device (unknown user, wrong password
#: on a new phone, rate limited, empty password, directory outage), counted per minute, source,
#: outcome and directory user instead of one ``events`` row each: a hostile caller's random
#: usernames and deviceIds cannot grow the store faster than the caps in ``sql.py`` allow.
event_counts = Table(
    "event_counts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("minute", DateTime(timezone=True), nullable=False),  # the minute's start (UTC)
    Column("source", String(LIMITS.source), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("user_key", String(LIMITS.user_key), nullable=False, default=""),  # "" for no directory user
    Column("login", String(LIMITS.username), nullable=False, default=""),  # a known user's login, else ""
    Column("count", Integer, nullable=False, default=1),
    Column("last_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("minute", "source", "outcome", "user_key", name="uq_event_counts_key"),
    Index("ix_event_counts_source_minute", "source", "minute"),
)

fingerprint_keys = Table(
    "fingerprint_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("current", Boolean, nullable=False, default=False),
)

gateway_state = Table(
    "gateway_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
