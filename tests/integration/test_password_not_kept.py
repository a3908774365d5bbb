"""A user's password does not stay in the gateway's memory after the bind (DESIGN §6).

Each worker thread keeps its user-bind connection open for the next caller; ldap3 remembers the
last request it sent (``Connection.request``, the strategy's outstanding requests), bind
credentials included. Against a real slapd over LDAPS, through the real connection factory: bind
with a unique password, then look for it (as text and as UTF-8 bytes, whole or inside a longer
value such as the encoded BER message) in everything the connection object reaches and in
every string or bytes object any live Python object refers to.

The tests never hold the password in a variable of their own while they look: it lives in a
``bytearray`` (which the search skips by identity), and the text form exists only during the bind.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from ldap3 import Connection

from gateway.directory.connection import ConnectionSettings, Endpoint, LdapConnectionFactory, simple_bind
from gateway.errors import DirectoryUnavailable

from .directory_admin import OpenLdapAdmin, OpenLdapSandbox, ssha, unique

if TYPE_CHECKING:
    from .conftest import OpenLdapServer

TEXT_TYPES = str | bytes | bytearray


@pytest.fixture
def sandbox(openldap: OpenLdapServer) -> Iterator[OpenLdapSandbox]:
    admin = OpenLdapAdmin(openldap)
    sandbox = admin.sandbox()
    yield sandbox
    admin.close()
    fresh = OpenLdapAdmin(openldap)  # a test may have restarted slapd under the first one
    OpenLdapSandbox([fresh], sandbox.ou).close()
    fresh.close()


@pytest.fixture
def factory(openldap: OpenLdapServer) -> Iterator[LdapConnectionFactory]:
    settings = ConnectionSettings(
        endpoints=(Endpoint.parse(f"ldaps://localhost:{openldap.ldaps_port}"),),
        ca_file=openldap.ca_cert,
        connect_timeout=2,
        receive_timeout=5,
        service_dn=openldap.svc_dn,
        service_password=openldap.svc_pw,
    )
    factory = LdapConnectionFactory(settings)
    yield factory
    factory.close()


def new_password() -> bytearray:
    """A password nothing else in the process can contain (non-ASCII: UTF-8 bytes differ from text)."""
    return bytearray(f"Pw-{uuid.uuid4().hex}-é€", "utf-8")


def user_with_password(sandbox: OpenLdapSandbox, password: bytearray) -> str:
    name = unique("u")
    dn = f"uid={name},{sandbox.ou}"
    attributes = {"uid": name, "cn": name, "sn": name, "userPassword": ssha(password.decode())}
    sandbox.admins[0].add(dn, ["inetOrgPerson"], attributes)
    return dn


def bind_as(factory: LdapConnectionFactory, dn: str, password: bytearray) -> bool:
    """One user bind on this thread's user connection, as ``LdapDirectory.verify_password`` does it."""
    text = password.decode()
    return factory.run_as_user(lambda conn: simple_bind(conn, dn, text))


def user_connection(factory: LdapConnectionFactory) -> Connection:
    conn = factory._local.user  # the connection the next caller on this thread will reuse
    assert isinstance(conn, Connection)
    return conn


def _holds(value: object, password: bytearray, text: str) -> bool:
    if value is password or value is text:
        return False
    if isinstance(value, str):
        return text in value
    return isinstance(value, bytes | bytearray) and bytes(password) in value


def copies_reachable_from(root: object, password: bytearray) -> list[str]:
    """Paths from ``root`` (attributes, dict/list/tuple/set items) to a value holding the password."""
    text = password.decode()
    found: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("conn", root)]
    while stack:
        path, value = stack.pop()
        if _holds(value, password, text):
            found.append(path)
        if isinstance(value, TEXT_TYPES | int | float) or value is None or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            stack.extend((f"{path}[{key!r}]", item) for key, item in value.items())
            stack.extend((f"{path}.<key>", key) for key in value)
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        else:
            attributes = dict(getattr(value, "__dict__", {}))
            for slot in getattr(type(value), "__slots__", ()):
                if isinstance(slot, str) and hasattr(value, slot):
                    attributes[slot] = getattr(value, slot)
            stack.extend((f"{path}.{name}", item) for name, item in attributes.items())
    return found


def live_copies(password: bytearray) -> list[str]:
    """Every live object that refers to a string or bytes object holding the password.

    ``gc.get_objects()`` lists only objects the collector tracks; CPython untracks dicts and
    tuples that hold only strings and numbers (such as ldap3's request dict), so the referents of
    every listed object are followed down through such containers too. Garbage is collected
    first: unreachable objects are freed, not kept (Python does not wipe freed memory)."""
    gc.collect()
    text = password.decode()
    holders = []
    seen: set[int] = set()
    for obj in gc.get_objects():
        pending = [obj]
        while pending:
            holder = pending.pop()
            if id(holder) in seen:
                continue
            seen.add(id(holder))
            for ref in gc.get_referents(holder):
                if _holds(ref, password, text):
                    holders.append(f"{type(holder).__module__}.{type(holder).__qualname__}")
                elif isinstance(ref, dict | tuple) and not gc.is_tracked(ref):
                    pending.append(ref)
    return holders


def test_a_users_password_is_not_kept_after_a_successful_bind(
    sandbox: OpenLdapSandbox, factory: LdapConnectionFactory
) -> None:
    password = new_password()
    dn = user_with_password(sandbox, password)
    assert bind_as(factory, dn, password) is True
    assert copies_reachable_from(user_connection(factory), password) == []
    assert live_copies(password) == []


def test_a_users_password_is_not_kept_after_a_refused_bind(
    sandbox: OpenLdapSandbox, factory: LdapConnectionFactory
) -> None:
    dn = user_with_password(sandbox, new_password())
    wrong = new_password()
    assert bind_as(factory, dn, wrong) is False
    assert copies_reachable_from(user_connection(factory), wrong) == []
    assert live_copies(wrong) == []


def test_the_next_callers_connection_holds_no_earlier_password(
    sandbox: OpenLdapSandbox, factory: LdapConnectionFactory
) -> None:
    # Two callers on one thread: after the second bind, neither password is anywhere.
    first, second = new_password(), new_password()
    first_dn, second_dn = user_with_password(sandbox, first), user_with_password(sandbox, second)
    assert bind_as(factory, first_dn, first) is True
    assert bind_as(factory, second_dn, second) is True
    conn = user_connection(factory)
    assert copies_reachable_from(conn, first) == []
    assert copies_reachable_from(conn, second) == []
    assert live_copies(first) == []
    assert live_copies(second) == []


def bind_fails_as_unavailable(factory: LdapConnectionFactory, dn: str, password: bytearray) -> bool:
    """A bind that ends in "directory unavailable"; the exception is handled and let go, as the
    service does."""
    try:
        bind_as(factory, dn, password)
    except DirectoryUnavailable:
        return True
    return False


def test_a_users_password_is_not_kept_after_a_bind_the_server_dropped(
    openldap: OpenLdapServer, sandbox: OpenLdapSandbox, factory: LdapConnectionFactory
) -> None:
    # The thread's connection is open; the server goes away; the next bind fails inside ldap3
    # (its frames, kept by the exception's traceback, hold the bind request).
    password = new_password()
    dn = user_with_password(sandbox, password)
    assert bind_as(factory, dn, password) is True
    with openldap.stopped():
        assert bind_fails_as_unavailable(factory, dn, password)
    assert live_copies(password) == []
