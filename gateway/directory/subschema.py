"""Does the directory's own schema define every attribute the gateway will ask for? (``check``)"""

from __future__ import annotations

import re

from ldap3 import BASE, Connection

from gateway.directory.ldap import DirectoryConfig

_NAMES = re.compile(r"NAME\s+(?:'([^']+)'|\(\s*((?:'[^']+'\s*)+)\))", re.IGNORECASE)
#: Answered by every server without being in attributeTypes, or not attributes at all.
_ALWAYS = frozenset({"dn", "1.1", "*", "+"})


def defined_attributes(conn: Connection) -> set[str] | None:
    """Lower-cased names of every attribute type the server's subschema defines (None: unreadable)."""
    conn.search("", "(objectClass=*)", BASE, attributes=["subschemaSubentry"])
    entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
    if not entries:
        return None
    subschema = _first(entries[0]["raw_attributes"].get("subschemaSubentry"))
    if not subschema:
        return None
    conn.search(subschema, "(objectClass=*)", BASE, attributes=["attributeTypes"])
    entries = [e for e in (conn.response or []) if e.get("type") == "searchResEntry"]
    if not entries:
        return None
    names: set[str] = set()
    for raw in entries[0]["raw_attributes"].get("attributeTypes", []):
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        found = _NAMES.search(text)
        if found:
            names.update(n.lower() for n in (found.group(1) or "").split() if n)
            names.update(n.strip("'").lower() for n in re.findall(r"'[^']+'", found.group(2) or ""))
    return names


def missing_attributes(conn: Connection, config: DirectoryConfig, extra: tuple[str, ...] = ()) -> list[str] | None:
    """Attributes the gateway asks for that the server's schema does not define (None: unknown)."""
    defined = defined_attributes(conn)
    if defined is None:
        return None
    wanted = {*config.requested_attributes(), *config.search.login_attributes, *extra}
    return sorted(
        name
        for name in wanted
        if name.lower() not in defined and name.lower() not in _ALWAYS and not re.fullmatch(r"\d+(\.\d+)+", name)
    )


def _first(values: object) -> str:
    if not values:
        return ""
    value = next(iter(values))  # type: ignore[call-overload]
    return value.decode() if isinstance(value, bytes) else str(value)
