"""``DirectoryUser + AttributeSchema -> SIP accounts``: a pure function, no I/O.

A field that cannot be filled is reported in ``MappingResult.problems`` (naming the attribute),
never raised: a user with no extension is an outcome for that user, not a server error.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mapping.spec import DISABLED, ENABLED, AccountSpec, AttributeSchema, FieldSpec
from gateway.models import FLAG_FIELDS, TRANSPORTS, DirectoryUser, SipAccount

REQUIRED_FIELDS = ("sipusername", "sippassword", "transport")
_TRUE = frozenset({"true", "yes", "on", "1", "enabled"})
_FALSE = frozenset({"false", "no", "off", "0", "disabled"})


@dataclass(frozen=True)
class MappingResult:
    accounts: tuple[SipAccount, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Scope:
    """The user being mapped, and the current value of an account's ``for_each`` attribute."""

    user: DirectoryUser
    each_attribute: str | None = None
    each_value: str | None = None

    def first(self, attribute: str) -> str | None:
        if self.each_attribute and attribute.lower() == self.each_attribute.lower():
            return self.each_value
        for value in self.user.attributes.get(attribute):
            if value.strip():
                return value.strip()
        return None


def map_accounts(user: DirectoryUser, schema: AttributeSchema) -> MappingResult:
    """Build every account the schema describes for this user, in the schema's order."""
    accounts: list[SipAccount] = []
    problems: list[str] = []
    for number, spec in enumerate(schema.accounts, start=1):
        for scope in _scopes(user, spec):
            account, account_problems = _build_account(scope, spec)
            problems.extend(f"account {number}: {problem}" for problem in account_problems)
            if account is not None:
                accounts.append(account)
    return MappingResult(tuple(accounts), tuple(problems))


def _scopes(user: DirectoryUser, spec: AccountSpec) -> list[_Scope]:
    if spec.for_each is None:
        return [_Scope(user)]
    values = [v.strip() for v in user.attributes.get(spec.for_each) if v.strip()]
    return [_Scope(user, spec.for_each, value) for value in values]


def _build_account(scope: _Scope, spec: AccountSpec) -> tuple[SipAccount | None, list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, field_spec in spec.field_specs().items():
        raw = _resolve(scope, field_spec)
        if raw is None:
            if name in REQUIRED_FIELDS:
                problems.append(f"{name}: {_describe_missing(field_spec)}")
            continue
        value, problem = _normalize(name, raw)
        if problem:
            problems.append(f"{name}: {problem}")
        if value is not None:
            values[name] = value
    if any(name not in values for name in REQUIRED_FIELDS):
        return None, problems
    return SipAccount(**values), problems


def _resolve(scope: _Scope, spec: FieldSpec) -> str | None:
    if spec.value is not None:
        return spec.value
    if spec.member_of is not None:
        return spec.then if scope.user.is_member_of(spec.member_of) else spec.otherwise
    for attribute in spec.attributes():
        found = scope.first(attribute)
        if found is not None:
            return found
    return spec.default


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


def _describe_missing(spec: FieldSpec) -> str:
    names = spec.attributes()
    if len(names) == 1:
        return f"attribute {names[0]} has no value"
    return f"attributes {', '.join(names)} have no value"
