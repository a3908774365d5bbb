"""Versioned schema migrations (Alembic), applied by ``migrate`` and checked at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import StoreOutOfDate, StoreUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"store unreachable: {type(exc).__name__}") from None


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; returns the revision the store is now at."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine) or ""


def ensure_current(engine: Engine) -> None:
    """Refuse a store whose schema is not this gateway's (older: run migrate; newer: upgrade us)."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise StoreOutOfDate(f"the device store is empty (schema {head} needed): run `python -m gateway migrate`")
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current in known:
        raise StoreOutOfDate(
            f"the device store is at schema {current}, this gateway needs {head}: run `python -m gateway migrate`"
        )
    raise StoreOutOfDate(
        f"the device store is at schema {current}, newer than this gateway ({head}): "
        "upgrade the gateway, or restore the backup taken before the newer version migrated"
    )
