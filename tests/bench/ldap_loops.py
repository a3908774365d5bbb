"""The directory work of one login, without HTTP, in Python threads of this process.

- ``pooled``: what the gateway does per request, as fast as ldap3 allows: each thread keeps a
  service-account connection and a user connection open; per login one search (the gateway's
  filter and attributes, size limit 2) and one bind as the found DN on the user connection, with
  the password-policy request control. ``TCP_NODELAY``, ``get_info=NONE``, certificates checked.
- ``naive``: what a typical provisioning script does per login, with ldap3's defaults: a new
  LDAPS connection (``Server`` default ``get_info=SCHEMA``, no ``TCP_NODELAY``), bind as the
  service account, search, re-bind as the user, unbind. Certificates are still checked (CA file):
  the one default we do not copy, since no one should.
- ``naive-tuned``: the same with the two fixes of DESIGN §4 (``TCP_NODELAY``, ``get_info=NONE``),
  to show how much of the naive loop's cost is those defaults and how much the new connection.

Threads share the GIL: the best of 1, 2, 4, 8 threads is reported, not the sum of cores.
"""

from __future__ import annotations

import random
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable

from ldap3 import NONE, SCHEMA, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.utils.conv import escape_filter_chars

from tests.bench.stats import summarize
from tests.bench.targets import DirectoryTarget, Endpoint

PPOLICY_REQUEST = ("1.3.6.1.4.1.42.2.27.8.5.1", False, None)


def _server(target: DirectoryTarget, endpoint: Endpoint, get_info: str = NONE) -> Server:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(target.ca_file))
    return Server(endpoint.host, port=endpoint.port, use_ssl=True, tls=tls, get_info=get_info, connect_timeout=5)


def _open(server: Server, nodelay: bool = True) -> Connection:
    conn = Connection(server, auto_referrals=False, receive_timeout=10, read_only=True)
    conn.open(read_server_info=False)
    if nodelay:
        conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _search_dn(conn: Connection, target: DirectoryTarget, login: str) -> str:
    search_filter = target.search_filter.format(login=escape_filter_chars(login))
    conn.search(target.base_dn, search_filter, SUBTREE, attributes=list(target.attributes), size_limit=2)
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    if len(entries) != 1:
        raise AssertionError(f"search for {login!r} found {len(entries)} entries")
    return str(entries[0]["dn"])


def _bind(conn: Connection, name: str, password: str) -> None:
    conn.user, conn.password, conn.authentication = name, password.encode(), SIMPLE
    if not conn.bind(read_server_info=False, controls=[PPOLICY_REQUEST]):
        raise AssertionError(f"bind as {name} refused: {conn.result.get('description')}")


def pooled_worker(target: DirectoryTarget, endpoint: Endpoint) -> Callable[[str, str], None]:
    """One thread's login function over its two open connections."""
    server = _server(target, endpoint)
    service, user = _open(server), _open(server)
    _bind(service, target.service_dn, target.service_password)

    def login(name: str, password: str) -> None:
        _bind(user, _search_dn(service, target, name), password)

    return login


def naive_worker(target: DirectoryTarget, endpoint: Endpoint, tuned: bool = False) -> Callable[[str, str], None]:
    server = _server(target, endpoint, get_info=NONE if tuned else SCHEMA)

    def login(name: str, password: str) -> None:
        if tuned:
            conn = _open(server)
            _bind(conn, target.service_dn, target.service_password)
        else:
            conn = Connection(server, user=target.service_dn, password=target.service_password, auto_bind=True)
        try:
            dn = _search_dn(conn, target, name)
            if not conn.rebind(user=dn, password=password):
                raise AssertionError(f"bind as {dn} refused")
        finally:
            conn.unbind()

    return login


def run_loop(
    make_worker: Callable[[], Callable[[str, str], None]],
    users: list[tuple[str, str]],
    threads: int,
    duration: float,
) -> dict[str, float | int | str]:
    """``threads`` threads log random users in for ``duration`` seconds; per-login latencies."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def work(index: int) -> None:
        try:
            login = make_worker()
        except Exception as exc:  # reported, not raised from a thread
            errors.append(f"{type(exc).__name__}: {exc}")
            start.wait()
            return
        pick = random.Random(index).choice  # noqa: S311 - picks test users, no secret
        start.wait()
        mine = latencies[index]
        while (began := time.perf_counter()) < stop_at[0]:
            name, password = pick(users)
            try:
                login(name, password)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                if len(errors) > 100 * threads:
                    return  # the directory is refusing everything: report it, do not spin
                continue
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    stop_at[0] = time.perf_counter() + 1e9
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + duration
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    result = summarize([x for per_thread in latencies for x in per_thread], elapsed)
    result["errors"] = len(errors)
    result["error_sample"] = errors[0][:300] if errors else ""
    return result


def time_wait_sockets() -> int:
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True, text=True, check=False).stdout
    return len(out.splitlines())


def wait_for_time_wait(limit: int = 6000, patience: float = 90) -> None:
    """ldap3 2.9.1 binds every client socket to port 0 before connect(): past ~14k sockets in
    TIME_WAIT new connections slow down by orders of magnitude. Let them drain first."""
    deadline = time.monotonic() + patience
    while time_wait_sockets() > limit and time.monotonic() < deadline:
        time.sleep(2)
