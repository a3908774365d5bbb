"""Creating the SQLAlchemy engine: SQLite in WAL mode, or a server database by URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

#: ``execution_options(read_only=True)``: a plain (deferred) SQLite transaction for lookups.
READ_ONLY = {"read_only": True}


def create_store_engine(url: str, *, timeout: int = 5) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and immediate write transactions."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, timeout)
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = timeout
    return create_engine(
        url, pool_pre_ping=True, pool_timeout=timeout, connect_args=connect_args, pool_size=10, max_overflow=20
    )


def _sqlite_engine(url: str, timeout: int) -> Engine:
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A write transaction takes the lock up front: two requests for the same device are
        # serialized instead of both reading the old state.
        read_only = connection.get_execution_options().get("read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
