"""The built-in demo directory: ldap3's mock server loaded from an LDIF file.

The file is re-read when it changes, so an admin can edit it and watch phones react. Like
OpenLDAP's memberof overlay, ``memberOf`` is computed from the ``member`` values of groups.
Search and bind go through the same ``LdapDirectory`` code as a real server.
"""

from __future__ import annotations

import logging
import threading
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ldif
from ldap3 import MOCK_SYNC, NONE, Connection, Server
from ldap3.core.exceptions import LDAPDefinitionError, LDAPException
from ldap3.core.results import RESULT_INVALID_CREDENTIALS, RESULT_SUCCESS

from gateway.errors import ConfigError, DirectoryUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
GROUP_CLASSES = frozenset({"groupofnames", "groupofuniquenames"})
_UUID_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122 URL namespace


def read_ldif(path: Path) -> dict[str, dict[str, list[str]]]:
    """Entries of an LDIF file, with ``memberOf`` and a stable ``entryUUID`` added."""
    try:
        with path.open("rb") as handle:
            records = list(ldif.LDIFParser(handle).parse())
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read demo directory ({exc.strerror})"]) from None
    except (ValueError, KeyError) as exc:
        raise ConfigError([f"{path}: not valid LDIF: {exc}"]) from None
    if not records:
        raise ConfigError([f"{path}: the demo directory holds no entries"])
    entries = {dn: {name: list(values) for name, values in attrs.items()} for dn, attrs in records}
    _add_member_of(entries)
    for dn, attrs in entries.items():
        attrs.setdefault("entryUUID", [str(uuid.uuid5(_UUID_NAMESPACE, dn.lower()))])
    return entries


def base_dn_of(entries: dict[str, dict[str, list[str]]]) -> str:
    """The suffix: the entry every other entry lives under (the one with the shortest DN)."""
    return min(entries, key=lambda dn: (dn.count(","), len(dn)))


def _add_member_of(entries: dict[str, dict[str, list[str]]]) -> None:
    by_lower = {dn.lower(): dn for dn in entries}
    for group_dn, attrs in entries.items():
        classes = {value.lower() for value in attrs.get("objectClass", [])}
        if not classes & GROUP_CLASSES:
            continue
        for member in attrs.get("member", []) + attrs.get("uniqueMember", []):
            target = by_lower.get(member.lower())
            if target is not None:
                entries[target].setdefault("memberOf", []).append(group_dn)


class DemoConnectionFactory:
    """Mock connections over the LDIF file's entries; no ACLs, so the service user is anonymous."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._server = self._load()  # a bad file at start-up is a ConfigError

    @property
    def base_dn(self) -> str:
        return str(self._server.demo_base_dn)

    def entry_dns(self) -> list[str]:
        return list(self._current().dit)

    def run_as_service(self, operation: Callable[[Connection], T]) -> T:
        return self._run(operation)

    def run_as_user(self, operation: Callable[[Connection], T]) -> T:
        return self._run(operation)

    def _run(self, operation: Callable[[Connection], T]) -> T:
        conn = Connection(self._current(), client_strategy=MOCK_SYNC, raise_exceptions=False, read_only=True)
        conn.strategy.mock_bind = types.MethodType(_slapd_simple_bind, conn.strategy)
        try:
            conn.open()
            return operation(conn)
        except LDAPException as exc:
            raise DirectoryUnavailable(f"demo directory: {type(exc).__name__}") from None
        finally:
            conn.unbind()

    def _current(self) -> Server:
        try:
            stat = self.path.stat()
        except OSError:
            return self._server  # file briefly missing while an editor saves it: keep serving
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            with self._lock:
                try:
                    self._server = self._load()
                    log.info("demo directory reloaded from %s", self.path)
                except ConfigError as exc:
                    log.error("demo directory not reloaded, keeping the previous one: %s", exc.problems[0])
                    self._stamp = (stat.st_mtime_ns, stat.st_size)
        return self._server

    def _load(self) -> Server:
        stat = self.path.stat() if self.path.exists() else None
        entries = read_ldif(self.path)
        server = Server("demo", get_info=NONE)
        loader = Connection(server, client_strategy=MOCK_SYNC)
        for dn, attrs in entries.items():
            loader.strategy.add_entry(dn, attrs, validate=False)
        server.demo_base_dn = base_dn_of(entries)
        if stat is not None:
            self._stamp = (stat.st_mtime_ns, stat.st_size)
        return server


def _slapd_simple_bind(strategy: Any, request: Any, controls: Any) -> dict[str, Any]:
    """A simple bind answered as slapd answers it for a clear-text ``userPassword``: the
    password's octets must equal a value's octets, anything else is invalidCredentials (49).

    ldap3's mock applies SASLprep to the password (a tab or another control character raised
    ``LDAPSASLPrepError``, which the gateway reports as an outage, for existing users only) and
    matches ``userPassword`` case-insensitively and as numbers; slapd does neither. An empty
    password is an anonymous bind, as before (the service account of the demo is anonymous).
    """
    authentication = request["authentication"]
    if authentication.getName() != "simple":
        raise LDAPDefinitionError("only simple bind in the demo directory")
    password = bytes(authentication["simple"])
    name = str(request["name"])
    code, message = RESULT_INVALID_CREDENTIALS, "invalid credentials"
    if not password:
        strategy.bound, code, message = "<anonymous>", RESULT_SUCCESS, ""
    elif any(
        password == _octets(value) for value in strategy.connection.server.dit.get(name, {}).get("userPassword", [])
    ):
        strategy.bound, code, message = name, RESULT_SUCCESS, ""
    return {
        "resultCode": code,
        "matchedDN": "",
        "diagnosticMessage": message,
        "referral": None,
        "serverSaslCreds": None,
    }


def _octets(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")
