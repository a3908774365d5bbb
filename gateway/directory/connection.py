"""Connections to the directory servers: TLS, timeouts, failover, and per-thread reuse.

ldap3's default (SYNC) strategy is not thread-safe, so each waitress thread keeps its own
service-account connection and its own user-bind connection; a user bind therefore never shares
a connection with another thread. A server that fails is skipped for ``retry_after`` seconds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from ldap3 import NONE, SIMPLE, SYNC, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException

from gateway.errors import DirectoryUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    url: str
    host: str
    port: int
    use_ssl: bool

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        use_ssl = parts.scheme == "ldaps"
        return cls(url, parts.hostname or "", parts.port or (636 if use_ssl else 389), use_ssl)


@dataclass(frozen=True)
class ConnectionSettings:
    endpoints: tuple[Endpoint, ...]
    start_tls: bool = False
    ca_file: Path | None = None
    connect_timeout: int = 5
    receive_timeout: int = 10
    retry_after: int = 30
    service_dn: str = ""
    service_password: str = field(default="", repr=False)


class ConnectionFactory(Protocol):
    """Hands out connections; ``LdapDirectory`` never creates one itself."""

    def run_as_service(self, operation: Callable[[Connection], T]) -> T: ...

    def run_as_user(self, operation: Callable[[Connection], T]) -> T: ...


def describe_error(exc: BaseException) -> str:
    """An exception as one log-safe line (ldap3 messages carry addresses, never credentials)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def simple_bind(conn: Connection, name: str, password: str, controls: list[Any] | None = None) -> bool:
    """Bind ``conn`` as ``name``; the password is dropped from the connection object afterwards."""
    conn.user, conn.password, conn.authentication = name, password, SIMPLE
    try:
        return bool(conn.bind(read_server_info=False, controls=controls))
    finally:
        conn.password = None


class LdapConnectionFactory:
    """Real servers over LDAPS or StartTLS (plain LDAP only when settings allow it)."""

    def __init__(self, settings: ConnectionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._servers = {endpoint: self._server(endpoint) for endpoint in settings.endpoints}
        self._down_until: dict[Endpoint, float] = {}
        self._local = threading.local()

    def run_as_service(self, operation: Callable[[Connection], T]) -> T:
        return self._run("service", operation)

    def run_as_user(self, operation: Callable[[Connection], T]) -> T:
        return self._run("user", operation)

    def _run(self, role: str, operation: Callable[[Connection], T]) -> T:
        """Run on this thread's connection; a stale reused connection is reopened once."""
        conn = getattr(self._local, role, None)
        reused = conn is not None
        for attempt in (1, 2):
            if conn is None:
                conn = self._open(bind_service=role == "service")
                setattr(self._local, role, conn)
            try:
                return operation(conn)
            except LDAPException as exc:
                self.discard(role)
                if not (reused and attempt == 1):
                    raise DirectoryUnavailable(describe_error(exc)) from None
                log.info("directory connection was closed by the server; reconnecting")
                conn = None
        raise AssertionError("unreachable")  # pragma: no cover

    def discard(self, role: str) -> None:
        conn = getattr(self._local, role, None)
        setattr(self._local, role, None)
        if conn is not None:
            _close_quietly(conn)

    def _open(self, *, bind_service: bool) -> Connection:
        problems = []
        for endpoint in self._candidates():
            try:
                conn = self.connect(endpoint)
            except (LDAPException, OSError) as exc:
                self._mark_down(endpoint)
                problems.append(f"{endpoint.url}: {describe_error(exc)}")
                continue
            if bind_service:
                self._bind_service(conn, endpoint)
            return conn
        raise DirectoryUnavailable("no directory server reachable (" + "; ".join(problems) + ")")

    def connect(self, endpoint: Endpoint) -> Connection:
        """Open (and secure) a connection to one server, unbound."""
        conn = Connection(
            self._servers[endpoint],
            client_strategy=SYNC,
            raise_exceptions=False,
            auto_referrals=False,
            receive_timeout=self.settings.receive_timeout,
            read_only=True,
        )
        try:
            conn.open(read_server_info=False)
            # Without TCP_NODELAY every new TLS connection stalls ~45 ms (Nagle + delayed ACK).
            conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.settings.start_tls and not endpoint.use_ssl:
                conn.start_tls(read_server_info=False)
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _bind_service(self, conn: Connection, endpoint: Endpoint) -> None:
        s = self.settings
        try:
            ok = simple_bind(conn, s.service_dn, s.service_password)
        except LDAPException as exc:
            _close_quietly(conn)
            self._mark_down(endpoint)
            raise DirectoryUnavailable(f"{endpoint.url}: {describe_error(exc)}") from None
        if not ok:
            description = conn.result.get("description", "")
            _close_quietly(conn)
            log.error("service account bind refused by %s: %s", endpoint.url, description)
            raise DirectoryUnavailable(f"service account bind refused by {endpoint.url}: {description}")

    def _candidates(self) -> list[Endpoint]:
        now = self._clock()
        healthy = [e for e in self.settings.endpoints if self._down_until.get(e, 0.0) <= now]
        return healthy or list(self.settings.endpoints)

    def _mark_down(self, endpoint: Endpoint) -> None:
        self._down_until[endpoint] = self._clock() + self.settings.retry_after
        log.warning("directory server %s failed; trying others for %ss", endpoint.url, self.settings.retry_after)

    def _server(self, endpoint: Endpoint) -> Server:
        # Certificates are always validated; ldap3 then matches the host name itself.
        tls = Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(self.settings.ca_file) if self.settings.ca_file else None,
            version=ssl.PROTOCOL_TLS_CLIENT,
            sni=None if _is_ip(endpoint.host) else endpoint.host,
        )
        return Server(
            endpoint.host,
            port=endpoint.port,
            use_ssl=endpoint.use_ssl,
            tls=tls,
            get_info=NONE,
            connect_timeout=self.settings.connect_timeout,
        )

    @contextmanager
    def probe(self, endpoint: Endpoint) -> Iterator[Connection]:
        """A throw-away connection to one server (for ``check``), bound as the service account."""
        conn = self.connect(endpoint)
        try:
            if self.settings.service_dn:
                self._bind_service(conn, endpoint)
            yield conn
        finally:
            _close_quietly(conn)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _close_quietly(conn: Connection) -> None:
    """Unbind, and make sure the socket is closed even when the connection never opened."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
