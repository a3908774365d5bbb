"""The attribute schema as data: presets and site files are validated into these models.

The models describe the *effective* schema: ``presets`` has already layered a site file over its
base preset and folded ``[account_defaults]`` into each account, so ``schema show`` prints exactly
what the mapper runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gateway.mapping.text import (
    Transform,
    check_attribute_name,
    compile_pattern,
    extract_group,
    parse_template,
    template_attributes,
)
from gateway.models import FLAG_FIELDS, OPTIONAL_ACCOUNT_FIELDS, REQUIRED_ACCOUNT_FIELDS, TRANSPORTS

ENABLED, DISABLED = "Enabled", "Disabled"
REQUIRED_FIELDS = REQUIRED_ACCOUNT_FIELDS
ACCOUNT_FIELDS = (*REQUIRED_FIELDS, *OPTIONAL_ACCOUNT_FIELDS)
SOURCES = ("value", "attribute", "template", "member_of", "present")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Strict):
    """Where one account field's value comes from: exactly one source, then optional refinements.

    Sources: ``value`` (literal text); ``attribute`` (first non-blank value, then each
    ``fallback``); ``template`` (``"{givenName} {sn}"``); and the conditions ``member_of`` (a
    group DN), ``present`` (an attribute has a value) and ``attribute`` + ``matches`` (a value
    matches a regular expression), which give ``then`` or ``else``. A text source may be refined
    by ``extract`` (a regex with one named group), then ``transform``; ``default`` is used when
    it gives nothing.
    """

    value: str | None = None
    attribute: str | None = None
    template: str | None = None
    member_of: str | None = None
    present: str | None = None
    fallback: tuple[str, ...] = ()
    matches: str | None = None
    extract: str | None = None
    transform: tuple[Transform, ...] = ()
    default: str | None = None
    then: str | None = None
    otherwise: str | None = Field(default=None, alias="else")

    @field_validator("transform", mode="before")
    @classmethod
    def _one_transform(cls, raw: object) -> object:
        return (raw,) if isinstance(raw, str) else raw

    @field_validator("attribute", "present", "fallback")
    @classmethod
    def _attribute_names(cls, names: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        for name in (names,) if isinstance(names, str) else names or ():
            check_attribute_name(name)
        return names

    @field_validator("template")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is not None:
            parse_template(template)
        return template

    @field_validator("extract", "matches")
    @classmethod
    def _pattern(cls, pattern: str | None, info: ValidationInfo) -> str | None:
        if pattern is not None:
            compile_pattern(pattern)
            if info.field_name == "extract":
                extract_group(pattern)
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        sources = [name for name in SOURCES if getattr(self, name) is not None]
        if len(sources) != 1:
            given = ", ".join(sources) or "none"
            raise ValueError(f"give exactly one of {', '.join(SOURCES)} (given: {given})")
        problems = [rule for broken, rule in self._rules() if broken]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _rules(self) -> list[tuple[bool, str]]:
        """(broken, message) for every rule tying the refinements to the source."""
        text = (self.attribute is not None and self.matches is None) or self.template is not None
        return [
            (bool(self.fallback) and self.attribute is None, "fallback only applies to attribute"),
            (self.matches is not None and self.attribute is None, "matches only applies to attribute"),
            (self.extract is not None and not text, "extract only applies to attribute or template"),
            (bool(self.transform) and not text, "transform only applies to attribute or template"),
            (self.default is not None and not text, "default only applies to attribute or template"),
            (
                (self.then is not None or self.otherwise is not None) and not self.is_condition,
                "then and else only apply to member_of, present, or attribute with matches",
            ),
        ]

    @property
    def is_condition(self) -> bool:
        return self.member_of is not None or self.present is not None or self.matches is not None

    def attributes(self) -> tuple[str, ...]:
        """Directory attributes this field reads."""
        names: tuple[str, ...] = (self.attribute,) if self.attribute else ()
        names += (self.present,) if self.present else ()
        names += template_attributes(self.template) if self.template else ()
        return names + self.fallback

    def groups(self) -> tuple[str, ...]:
        return (self.member_of,) if self.member_of else ()

    def literal_outputs(self, flag: bool) -> tuple[str, ...]:
        """Every fixed text this field can give (flags: conditions default to Enabled/Disabled)."""
        if self.value is not None:
            return (self.value,)
        if self.is_condition:
            then = self.then if self.then is not None else (ENABLED if flag else None)
            otherwise = self.otherwise if self.otherwise is not None else (DISABLED if flag else None)
            return tuple(text for text in (then, otherwise) if text is not None)
        return (self.default,) if self.default is not None else ()


def _as_field(raw: object) -> object:
    """A bare string in TOML is a literal: ``transport = "TLS"``."""
    return {"value": raw} if isinstance(raw, str) else raw


class AccountSpec(_Strict):
    """One SIP account (or one per value of ``for_each``) built from the user's entry.

    ``id`` names the account so a site file can override it. Inside an account with
    ``for_each = "otherIpPhone"``, the attribute ``otherIpPhone`` stands for the current value
    only. ``granted_by`` (one group DN or several) builds the account for members only: a shared
    line such as reception or a hunt group.
    """

    id: str | None = None
    for_each: str | None = None
    granted_by: tuple[str, ...] = ()
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
            return {k: (_as_field(v) if k in ACCOUNT_FIELDS else v) for k, v in data.items()}
        return data

    @field_validator("granted_by", mode="before")
    @classmethod
    def _one_group(cls, raw: object) -> object:
        return (raw,) if isinstance(raw, str) else raw

    @field_validator("granted_by")
    @classmethod
    def _group_dns(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        if any("=" not in group for group in groups):
            raise ValueError("give group DNs, such as CN=Reception,OU=Groups,DC=corp,DC=example")
        return groups

    @field_validator("for_each")
    @classmethod
    def _for_each_name(cls, name: str | None) -> str | None:
        return check_attribute_name(name) if name is not None else None

    @field_validator(*ACCOUNT_FIELDS)
    @classmethod
    def _outputs(cls, spec: FieldSpec | None, info: ValidationInfo) -> FieldSpec | None:
        name = str(info.field_name)
        if spec is None:
            return spec
        if spec.is_condition and spec.then is None and name not in FLAG_FIELDS:
            raise ValueError("give then = ... (only the Enabled/Disabled flags have a default)")
        for literal in spec.literal_outputs(flag=name in FLAG_FIELDS):
            if name == "transport" and literal.strip().upper() not in TRANSPORTS:
                raise ValueError(f"{literal!r} is not one of {', '.join(TRANSPORTS)}")
            if name in FLAG_FIELDS and literal not in (ENABLED, DISABLED):
                raise ValueError(f"{literal!r} must be {ENABLED!r} or {DISABLED!r}")
        return spec

    def field_specs(self) -> dict[str, FieldSpec]:
        return {name: spec for name in ACCOUNT_FIELDS if (spec := getattr(self, name)) is not None}

    def label(self, number: int) -> str:
        """How logs name this account: its position in the schema, and its id when it has one."""
        return f"account {number} ({self.id})" if self.id else f"account {number}"


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
    """A whole (effective) schema: the directory profile and the accounts to build, in order."""

    description: str = ""
    directory: DirectoryProfile = DirectoryProfile()
    accounts: tuple[AccountSpec, ...]

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, accounts: tuple[AccountSpec, ...]) -> tuple[AccountSpec, ...]:
        if not accounts:
            raise ValueError("describe at least one account ([[accounts]])")
        ids = [account.id for account in accounts if account.id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError(f"account ids must be unique (given: {', '.join(ids)})")
        return accounts

    def attributes(self) -> frozenset[str]:
        """Every directory attribute the accounts read (one search returns them all).

        LDAP names are case-insensitive: each is listed once, as first spelled in the schema.
        """
        names: dict[str, str] = {}
        for account in self.accounts:
            read = [account.for_each] if account.for_each else []
            for spec in account.field_specs().values():
                read.extend(spec.attributes())
            for name in read:
                names.setdefault(name.lower(), name)
        return frozenset(names.values())

    def groups(self) -> frozenset[str]:
        """Every group DN the accounts test: field conditions and group-granted lines."""
        found: set[str] = set()
        for account in self.accounts:
            found.update(account.granted_by)
            for spec in account.field_specs().values():
                found.update(spec.groups())
        return frozenset(found)
