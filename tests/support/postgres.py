"""A private schema on the machine's PostgreSQL per test, and a loopback TCP proxy that can be cut.

The machine's PostgreSQL (127.0.0.1:5432, trust auth, database ``test``) is shared: tests never
stop it. An outage is simulated by cutting a proxy between the gateway and the database.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

PG_HOST, PG_PORT, PG_DATABASE, PG_USER = "127.0.0.1", 5432, "test", "postgres"


def postgres_available() -> bool:
    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=PG_USER, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def private_schema(port: int = PG_PORT) -> Iterator[str]:
    """A SQLAlchemy URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    schema = f"gw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=PG_USER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        options = quote(f"-csearch_path={schema}")
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{port}/{PG_DATABASE}?options={options}"
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=PG_USER, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


class CuttableProxy:
    """Forwards a loopback port to a target; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener: socket.socket | None = None
        self.port = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        """Listen again (on the same port) and forward new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(listener, self._stop), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Close the listener and every forwarded connection: the database 'goes away'."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for a, b in self._pairs:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.close()
            self._pairs.clear()

    def _serve(self, listener: socket.socket, stop: threading.Event) -> None:
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, None)
        while not stop.is_set():
            try:
                ready = selector.select(timeout=0.05)
            except (OSError, ValueError):
                break
            for key, _ in ready:
                if key.data is None:
                    self._accept(listener, selector)
                else:
                    self._pump(key.fileobj, key.data, selector)  # type: ignore[arg-type]
        selector.close()

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector) -> None:
        try:
            client, _ = listener.accept()
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            return
        with self._lock:
            self._pairs.append((client, upstream))
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, selector: selectors.BaseSelector) -> None:
        try:
            data = source.recv(65536)
            if data:
                sink.sendall(data)
                return
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(s)
            with contextlib.suppress(OSError):
                s.close()
