"""Devices, the audit trail, fingerprint keys and gateway state.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_key", sa.String(255), nullable=False),
        sa.Column("device_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("login", sa.String(255), nullable=False, server_default=""),
        sa.Column("user_dn", sa.String(1024), nullable=False, server_default=""),
        sa.Column("account_fingerprint", sa.String(64)),
        sa.Column("fingerprint_key_id", sa.String(32)),
        sa.Column("force_update", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_source", sa.String(64), nullable=False, server_default=""),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("user_key", "device_id", name="uq_devices_user_device"),
    )
    op.create_index("ix_devices_login_device", "devices", ["login", "device_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("login", sa.String(255), nullable=False, server_default=""),
        sa.Column("user_key", sa.String(255), nullable=False, server_default=""),
        sa.Column("device_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("source", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_outcome_at", "events", ["outcome", "at"])
    op.create_table(
        "fingerprint_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "gateway_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_state")
    op.drop_table("fingerprint_keys")
    op.drop_index("ix_events_outcome_at", "events")
    op.drop_index("ix_events_at", "events")
    op.drop_table("events")
    op.drop_index("ix_devices_login_device", "devices")
    op.drop_table("devices")
