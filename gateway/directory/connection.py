"""Connections to the directory servers: TLS, timeouts, failover, and per-thread reuse.

ldap3's default (SYNC) strategy is not thread-safe, so each waitress thread keeps its own
service-account connection and its own user-bind connection; a user bind therefore never shares
a connection with another thread. A server that fails is skipped for ``retry_after`` seconds
while another one answers; a server that answers again (the only one, or the last one left) is
marked up at once, so its connections are reused instead of reopened on every call.

Every connection gets a fresh ldap3 ``Server``: a ``Server`` remembers a failed connect and
refuses its address for ~6 s afterwards ("invalid server address", ldap3's
RESET_AVAILABILITY_TIMEOUT), so a server that came back would otherwise be refused after
``retry_after`` had already let it back in (measured with two slapds, tests/integration).

TLS is verified by OpenSSL during the handshake (``VerifiedTls``): the certificate chain against
``ca_file`` (or the system's trust store) and the host name against the certificate.
"""

from __future__ import annotations

import ast
import contextlib
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
from ldap3.core.exceptions import LDAPException, LDAPResponseTimeoutError, LDAPStartTLSError

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
    return f"{type(exc).__name__}: {_unwrapped(text)}"[:300]


def _unwrapped(text: str) -> str:
    """ldap3 re-raises a cause as the repr of a tuple, sometimes twice: ("('the message',)",)."""
    for _ in range(3):
        if not (text.startswith("(") and text.endswith(")")):
            break
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            break
        if not (isinstance(value, tuple) and value and isinstance(value[0], str)):
            break
        text = value[0]
    return text.strip()


class VerifiedTls(Tls):  # type: ignore[misc]
    """ldap3's ``Tls``, with the certificate and the host name checked by OpenSSL in the handshake.

    ldap3 switches OpenSSL's host-name check off and matches the name itself after the handshake,
    with ``ssl.match_hostname``: deprecated, removed in Python 3.12 (ldap3's fallback cannot match
    IP addresses), and on a mismatch the wrapped socket is left open. Here a certificate that is
    not trusted, or does not name ``host``, fails the handshake, and Python closes the socket.
    """

    def __init__(self, host: str, ca_file: Path | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.host = host
        self.ca_file = ca_file

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        # create_default_context: CERT_REQUIRED, check_hostname, TLS 1.2+; the system's trust
        # store when no CA file is configured. An IP address is matched against IP SANs.
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        connection.socket = context.wrap_socket(
            connection.socket, server_side=False, do_handshake_on_connect=do_handshake, server_hostname=self.host
        )


def simple_bind(conn: Connection, name: str, password: str, controls: list[Any] | None = None) -> bool:
    """Bind ``conn`` as ``name``; afterwards the connection holds no copy of the password.

    The password goes to the server as the UTF-8 bytes the user typed, as ldapsearch and Windows
    send it: ldap3 would otherwise apply SASLprep to a ``str``, which drops some characters (soft
    hyphen), maps others (no-break space) and refuses control characters (tab).
    """
    conn.user, conn.password, conn.authentication = name, password.encode("utf-8"), SIMPLE
    try:
        return bool(conn.bind(read_server_info=False, controls=controls))
    finally:
        _forget_credentials(conn)


def _forget_credentials(conn: Connection) -> None:
    """Drop every copy of the password a bind leaves on ``conn``: ldap3 keeps the last request
    it sent (``conn.request``: the bind request as a dict, password included) and, until its
    answer arrives, the same dict among the strategy's outstanding requests. A thread's
    connection waits for the next caller, so the previous caller's password would stay in
    memory until then."""
    conn.password = None
    request, conn.request = conn.request, None
    outstanding = getattr(conn.strategy, "_outstanding", None)
    if isinstance(outstanding, dict):
        for message_id, sent in list(outstanding.items()):
            if isinstance(sent, dict) and "authentication" in sent:
                del outstanding[message_id]
    if isinstance(request, dict) and "authentication" in request:
        request["authentication"] = None  # the same dict may still be referenced elsewhere


#: Seconds a refused service-account bind is not retried (AD's default lockout window is 30 min;
#: one attempt a minute stays far below any threshold).
SERVICE_REFUSAL_BACKOFF = 60


class LdapConnectionFactory:
    """Real servers over LDAPS or StartTLS (plain LDAP only when settings allow it)."""

    def __init__(self, settings: ConnectionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._down_until: dict[Endpoint, float] = {}
        self._local = threading.local()
        # Every open connection of every thread and its server, so ``close`` can close them all
        # and a thread can tell that its connection's server was found hung or gone by another.
        self._open_connections: dict[int, tuple[Connection, Endpoint]] = {}
        self._lock = threading.Lock()
        # A refused service bind (wrong password, disabled account) is not retried on every call
        # for a while: each retry is a failed logon that could lock the service account itself.
        self._service_refused_until = 0.0
        self._service_refusal = ""
        # One service bind in flight at a time: simultaneous calls must not each try a wrong
        # service password before the first refusal is known (a burst would lock the account).
        self._service_bind_lock = threading.Lock()

    def run_as_service(self, operation: Callable[[Connection], T]) -> T:
        return self._run("service", operation)

    def run_as_user(self, operation: Callable[[Connection], T]) -> T:
        return self._run("user", operation)

    def _run(self, role: str, operation: Callable[[Connection], T]) -> T:
        """Run on this thread's connection. A reused connection that fails (closed by the
        server, server gone) is reopened once, on a server that answers; so is a service
        search whose server stopped answering (timed out), which marks that server down. An
        operation that gets an answer marks its server up again."""
        conn = getattr(self._local, role, None)
        endpoint = self._endpoint_of(conn) if conn is not None else None
        if conn is not None and self._is_down(endpoint):
            self.discard(role)  # another call found this server hung or gone
            conn = None
        reused = conn is not None
        for attempt in (1, 2):
            if conn is None:
                conn, endpoint = self._open(bind_service=role == "service")
                setattr(self._local, role, conn)
                with self._lock:
                    self._open_connections[id(conn)] = (conn, endpoint)
            started = self._clock()
            try:
                result = operation(conn)
            except LDAPException as exc:
                self.discard(role)
                hung = _timed_out(exc)
                if hung and endpoint is not None:
                    self._mark_down(endpoint)
                # Retry once: a reused connection the server had closed, or a search whose server
                # hung. Never a user bind that timed out: the server may have counted it.
                retry = attempt == 1 and (reused or hung) and not (hung and role == "user")
                if not retry:
                    raise DirectoryUnavailable(describe_error(exc)) from None
                log.info("directory connection failed (%s); reconnecting", describe_error(exc))
                conn = None
                continue
            if endpoint in self._down_until:
                self._mark_up(endpoint, answered_since=started)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def discard(self, role: str) -> None:
        """Close this thread's connection for ``role``; the next operation opens a new one."""
        conn = getattr(self._local, role, None)
        setattr(self._local, role, None)
        if conn is not None:
            with self._lock:
                self._open_connections.pop(id(conn), None)
            _close_quietly(conn)

    def close(self) -> None:
        """Close every thread's connections (at shutdown; a thread that still uses the factory
        afterwards reconnects)."""
        with self._lock:
            connections, self._open_connections = list(self._open_connections.values()), {}
        for conn, _ in connections:
            _close_quietly(conn)
        self._local = threading.local()

    def _endpoint_of(self, conn: Connection) -> Endpoint | None:
        with self._lock:
            found = self._open_connections.get(id(conn))
        return found[1] if found else None

    def _is_down(self, endpoint: Endpoint | None) -> bool:
        return endpoint is not None and self._down_until.get(endpoint, 0.0) > self._clock()

    def _open(self, *, bind_service: bool) -> tuple[Connection, Endpoint]:
        """A connection to the first server that answers; a server that fails (refused, timed
        out, TLS error, dropped during the service bind) is marked down and the next one tried.
        A *refused* service bind is not retried elsewhere: it is a configuration error."""
        problems = []
        for endpoint in self._candidates():
            try:
                conn = self.connect(endpoint)
                if bind_service:
                    self._bind_service(conn, endpoint)
            except (LDAPException, OSError) as exc:
                self._mark_down(endpoint)
                problems.append(f"{endpoint.url}: {describe_error(exc)}")
                continue
            return conn, endpoint
        raise DirectoryUnavailable("no directory server reachable (" + "; ".join(problems) + ")")

    def connect(self, endpoint: Endpoint) -> Connection:
        """Open (and secure) a connection to one server, unbound."""
        conn = Connection(
            self._server(endpoint),
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
            # start_tls() raises on a refused StartTLS or a certificate problem; a False return
            # (TLS not started, e.g. operations in progress) must not fall back to plain LDAP.
            if self.settings.start_tls and not endpoint.use_ssl and not conn.start_tls(read_server_info=False):
                raise LDAPStartTLSError("StartTLS was not started; refusing to continue without TLS")
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _bind_service(self, conn: Connection, endpoint: Endpoint) -> None:
        """Bind ``conn`` as the service account, one bind at a time; ldap3 errors (server gone,
        timeout) propagate."""
        with self._service_bind_lock:
            self._bind_service_now(conn, endpoint)

    def _bind_service_now(self, conn: Connection, endpoint: Endpoint) -> None:
        s = self.settings
        if self._clock() < self._service_refused_until:
            _close_quietly(conn)
            raise DirectoryUnavailable(f"{self._service_refusal} (not retried for {SERVICE_REFUSAL_BACKOFF} s)")
        try:
            ok = simple_bind(conn, s.service_dn, s.service_password)
        except LDAPException:
            _close_quietly(conn)
            raise
        if not ok:
            description = conn.result.get("description", "")
            _close_quietly(conn)
            log.error(
                "service account bind refused by %s: %s; not retried for %s s",
                endpoint.url,
                description,
                SERVICE_REFUSAL_BACKOFF,
            )
            self._service_refusal = f"service account bind refused by {endpoint.url}: {description}"
            self._service_refused_until = self._clock() + SERVICE_REFUSAL_BACKOFF
            raise DirectoryUnavailable(self._service_refusal)

    def _candidates(self) -> list[Endpoint]:
        now = self._clock()
        healthy = [e for e in self.settings.endpoints if self._down_until.get(e, 0.0) <= now]
        return healthy or list(self.settings.endpoints)

    def _mark_down(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._down_until[endpoint] = self._clock() + self.settings.retry_after
        if len(self.settings.endpoints) > 1:
            log.warning(
                "directory server %s failed; trying the other servers first for %ss",
                endpoint.url,
                self.settings.retry_after,
            )
        else:
            log.warning("directory server %s failed; it is the only server: tried again on the next call", endpoint.url)

    def _mark_up(self, endpoint: Endpoint, *, answered_since: float) -> None:
        """A server that answered is up again, and its connections are reused at once; unless it
        was marked down after the answered operation began (another thread found it hung since)."""
        with self._lock:
            until = self._down_until.get(endpoint)
            if until is None or until - self.settings.retry_after > answered_since:
                return
            del self._down_until[endpoint]
        log.info("directory server %s answers again", endpoint.url)

    def _server(self, endpoint: Endpoint) -> Server:
        """A fresh ldap3 ``Server`` (see the module docstring); certificates always verified."""
        return Server(
            endpoint.host,
            port=endpoint.port,
            use_ssl=endpoint.use_ssl,
            tls=VerifiedTls(endpoint.host, self.settings.ca_file),
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


def _timed_out(exc: LDAPException) -> bool:
    """The server accepted the connection but did not answer within ``receive_timeout``."""
    return isinstance(exc, LDAPResponseTimeoutError) or "timed out" in str(exc)


def _close_quietly(conn: Connection) -> None:
    """Unbind, and make sure the socket is closed even when the connection never opened."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
