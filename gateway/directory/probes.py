"""The directory's own health checks, for ``/readyz`` and ``check`` (gateway/ops): they reach the
servers through the connection factories, so nothing outside this package speaks LDAP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ldap3 import BASE

from gateway.directory.connection import ConnectionFactory, Endpoint, LdapConnectionFactory
from gateway.directory.demo import DemoConnectionFactory


def readiness_checks(
    connections: ConnectionFactory | None, *, name_servers: bool
) -> list[tuple[str, Callable[[], None]]]:
    """(name, check) for each directory server (a service-account bind on a new connection), or
    the demo directory; a check raises when its server is not ready. Names are "directory server
    N" unless ``name_servers`` lets a reader see the URLs."""
    if isinstance(connections, LdapConnectionFactory):
        return [
            (endpoint.url if name_servers else f"directory server {number}", _bind_check(connections, endpoint))
            for number, endpoint in enumerate(connections.settings.endpoints, start=1)
        ]
    if isinstance(connections, DemoConnectionFactory):
        demo = connections
        return [("demo directory", lambda: None if demo.entry_dns() else _not_ready())]
    return []


def base_problem(conn: Any, base_dn: str) -> str | None:
    """Why the search base cannot be read on ``conn`` (a probe connection), or None."""
    conn.search(base_dn, "(objectClass=*)", BASE, attributes=["1.1"])
    if conn.result.get("result") != 0:
        return f"search base {base_dn!r} not readable: {conn.result.get('description')}"
    return None


def _bind_check(factory: LdapConnectionFactory, endpoint: Endpoint) -> Callable[[], None]:
    def check() -> None:
        with factory.probe(endpoint):
            pass

    return check


def _not_ready() -> None:
    raise RuntimeError("not ready")
