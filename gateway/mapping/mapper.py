"""``DirectoryUser + AttributeSchema -> SIP accounts``: a pure function, no I/O.

A field that cannot be filled is reported in ``MappingResult.problems`` (naming the attribute),
never raised: a user with no extension is an outcome for that user, not a server error.

Accounts come out in an order that depends only on the schema and on the entry's values as a
set: the schema's order of ``[[accounts]]``, and inside a ``for_each`` account the values in
natural order (runs of digits compared as numbers), never in the order a server returned them
(LDAP promises none, and two replicas may differ). Group membership is only ever tested, never
iterated. So the same entry gives the same list, and the same fingerprint, on every server and in
every process. A line the user would get twice (same ``sipusername`` and ``subdomain``) is kept
the first time only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.mapping.fields import Scope, resolve
from gateway.mapping.spec import DISABLED, ENABLED, REQUIRED_FIELDS, AccountSpec, AttributeSchema
from gateway.models import FLAG_FIELDS, TRANSPORTS, DirectoryUser, SipAccount

_TRUE = frozenset({"true", "yes", "on", "1", "enabled"})
_FALSE = frozenset({"false", "no", "off", "0", "disabled"})
_DIGIT_RUNS = re.compile(r"([0-9]+)")


@dataclass(frozen=True)
class MappingResult:
    accounts: tuple[SipAccount, ...]
    problems: tuple[str, ...] = ()


def map_accounts(user: DirectoryUser, schema: AttributeSchema) -> MappingResult:
    """Build every account the schema describes for this user, in the schema's order."""
    accounts: list[SipAccount] = []
    problems: list[str] = []
    provided_by: dict[tuple[str, str], str] = {}
    for number, spec in enumerate(schema.accounts, start=1):
        if spec.granted_by and not any(user.is_member_of(group) for group in spec.granted_by):
            continue  # a shared line for members only: not a problem for anyone else
        label = spec.label(number)
        for scope in _scopes(user, spec):
            account, account_problems = _build_account(scope, spec)
            problems.extend(f"{label}: {problem}" for problem in account_problems)
            if account is None:
                continue
            line = (account.sipusername.lower(), (account.subdomain or "").lower())
            if line in provided_by:
                problems.append(
                    f"{label}: line {account.sipusername} is already given by {provided_by[line]}; left out"
                )
                continue
            provided_by[line] = label
            accounts.append(account)
    return MappingResult(tuple(accounts), tuple(problems))


def _scopes(user: DirectoryUser, spec: AccountSpec) -> list[Scope]:
    if spec.for_each is None:
        return [Scope(user)]
    distinct: dict[str, str] = {}
    for value in Scope(user).values(spec.for_each):
        key = value.lower()  # spellings that differ in case only: one line, the same one whatever the order
        distinct[key] = min(distinct.get(key, value), value)
    return [Scope(user, spec.for_each, value) for value in sorted(distinct.values(), key=natural_order)]


def natural_order(value: str) -> tuple[tuple[str, ...], str]:
    """Sort key: case-insensitive, runs of digits by number (``ext-9`` before ``ext-10``), ties by the text.

    A digit run becomes its length (zero-padded) then its digits, so numbers of any size compare
    as numbers without converting them; text and digit runs alternate, so positions always match.
    """
    parts = _DIGIT_RUNS.split(value.casefold())
    key = tuple(
        part if index % 2 == 0 else f"{len(part.lstrip('0')):08d}{part.lstrip('0')}" for index, part in enumerate(parts)
    )
    return key, value


def _build_account(scope: Scope, spec: AccountSpec) -> tuple[SipAccount | None, list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, field_spec in spec.field_specs().items():
        resolved = resolve(scope, name, field_spec)
        if resolved.value is None:
            if name in REQUIRED_FIELDS:
                problems.append(f"{name}: {resolved.missing}")
            continue
        value, problem = _normalize(name, resolved.value)
        if problem:
            problems.append(f"{name}: {problem}")
        if value is not None:
            values[name] = value
    if any(name not in values for name in REQUIRED_FIELDS):
        return None, problems
    return SipAccount(**values), problems


def _normalize(name: str, raw: str) -> tuple[str | None, str | None]:
    """Coerce directory spellings into the seed's values; report what cannot be coerced."""
    if name == "transport":
        upper = raw.strip().upper()
        if upper in TRANSPORTS:
            return upper, None
        return None, f"{raw!r} is not one of {', '.join(TRANSPORTS)}"
    if name in FLAG_FIELDS:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return ENABLED, None
        if lowered in _FALSE:
            return DISABLED, None
        return None, f"{raw!r} is not a yes/no value; field left out"
    return raw, None
