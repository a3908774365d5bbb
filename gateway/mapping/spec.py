"""The attribute schema as data: presets and site files are validated into these models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.models import FLAG_FIELDS, OPTIONAL_ACCOUNT_FIELDS, TRANSPORTS

ENABLED, DISABLED = "Enabled", "Disabled"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Strict):
    """Where one account field's value comes from: exactly one source, then optional fallbacks.

    Sources: ``value`` (a literal), ``attribute`` (first value of a directory attribute, then each
    ``fallback`` attribute in turn), ``member_of`` (a group DN: ``then`` when the user is a member,
    ``otherwise`` when not). ``default`` is used when the source gives nothing.
    """

    value: str | None = None
    attribute: str | None = None
    fallback: tuple[str, ...] = ()
    member_of: str | None = None
    then: str = ENABLED
    otherwise: str = Field(default=DISABLED, alias="else")
    default: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [name for name in ("value", "attribute", "member_of") if getattr(self, name) is not None]
        if len(sources) != 1:
            given = ", ".join(sources) or "none"
            raise ValueError(f"give exactly one of value, attribute, member_of (given: {given})")
        if self.fallback and self.attribute is None:
            raise ValueError("fallback only applies to attribute")
        return self

    def attributes(self) -> tuple[str, ...]:
        """Directory attributes this field reads."""
        return ((self.attribute,) if self.attribute else ()) + self.fallback

    def groups(self) -> tuple[str, ...]:
        return (self.member_of,) if self.member_of else ()


def _as_field(raw: object) -> object:
    """A bare string in TOML is a literal: ``transport = "TLS"``."""
    return {"value": raw} if isinstance(raw, str) else raw


class AccountSpec(_Strict):
    """One SIP account (or one per value of ``for_each``) built from the user's entry.

    Inside an account with ``for_each = "otherIpPhone"``, the attribute ``otherIpPhone`` stands for
    the current value only, so ``sipusername = { attribute = "otherIpPhone" }`` gives one account
    per extra line.
    """

    for_each: str | None = None
    sipusername: FieldSpec
    sippassword: FieldSpec
    transport: FieldSpec
    subdomain: FieldSpec | None = None
    authusername: FieldSpec | None = None
    srtp: FieldSpec | None = None
    proxy: FieldSpec | None = None
    messaging: FieldSpec | None = None
    video: FieldSpec | None = None
    callrecording: FieldSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _literals(cls, data: object) -> object:
        if isinstance(data, dict):
            names = ("sipusername", "sippassword", "transport", *OPTIONAL_ACCOUNT_FIELDS)
            return {k: (_as_field(v) if k in names else v) for k, v in data.items()}
        return data

    @field_validator("transport")
    @classmethod
    def _known_transport(cls, spec: FieldSpec) -> FieldSpec:
        if spec.value is not None and spec.value.upper() not in TRANSPORTS:
            raise ValueError(f"{spec.value!r} is not one of {', '.join(TRANSPORTS)}")
        return spec

    @field_validator(*FLAG_FIELDS)
    @classmethod
    def _flag_literals(cls, spec: FieldSpec | None) -> FieldSpec | None:
        for literal in _literal_outputs(spec):
            if literal not in (ENABLED, DISABLED):
                raise ValueError(f"{literal!r} must be {ENABLED!r} or {DISABLED!r}")
        return spec

    def field_specs(self) -> dict[str, FieldSpec]:
        names = ("sipusername", "sippassword", "transport", *OPTIONAL_ACCOUNT_FIELDS)
        return {name: spec for name in names if (spec := getattr(self, name)) is not None}


def _literal_outputs(spec: FieldSpec | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    if spec.value is not None:
        return (spec.value,)
    if spec.member_of is not None:
        return (spec.then, spec.otherwise)
    return ()


GroupMembership = Literal["member-of", "in-chain"]
Flavour = Literal["active-directory", "openldap", "generic"]


class DirectoryProfile(_Strict):
    """How this kind of directory stores users: the preset's defaults, overridable in settings."""

    flavour: Flavour = "generic"
    user_filter: str = "(objectClass=*)"
    login_attributes: tuple[str, ...] = ("uid",)
    user_key: str = "entryUUID"
    group_membership: GroupMembership = "member-of"


class AttributeSchema(_Strict):
    """A whole preset or site file: the directory profile and the accounts to build."""

    description: str = ""
    directory: DirectoryProfile = DirectoryProfile()
    accounts: tuple[AccountSpec, ...]

    @field_validator("accounts")
    @classmethod
    def _at_least_one(cls, accounts: tuple[AccountSpec, ...]) -> tuple[AccountSpec, ...]:
        if not accounts:
            raise ValueError("describe at least one account ([[accounts]])")
        return accounts

    def attributes(self) -> frozenset[str]:
        """Every directory attribute the accounts read."""
        names: set[str] = set()
        for account in self.accounts:
            if account.for_each:
                names.add(account.for_each)
            for spec in account.field_specs().values():
                names.update(spec.attributes())
        return frozenset(names)

    def groups(self) -> frozenset[str]:
        """Every group DN the accounts test membership of."""
        found: set[str] = set()
        for account in self.accounts:
            for spec in account.field_specs().values():
                found.update(spec.groups())
        return frozenset(found)
