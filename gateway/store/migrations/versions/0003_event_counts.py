"""Count failed calls that concern no known device per minute, source and outcome (issue 14).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_counts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("user_key", sa.String(255), nullable=False, server_default=""),
        sa.Column("login", sa.String(255), nullable=False, server_default=""),
        sa.Column("count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("minute", "source", "outcome", "user_key", name="uq_event_counts_key"),
    )
    op.create_index("ix_event_counts_source_minute", "event_counts", ["source", "minute"])


def downgrade() -> None:
    op.drop_index("ix_event_counts_source_minute", "event_counts")
    op.drop_table("event_counts")
