"""One field of one account: a ``FieldSpec`` resolved against the user's entry. Pure, no I/O.

When a field gets no value, ``Resolved.missing`` says why, naming attributes, groups and
patterns from the schema, never a value read from the directory (that could be a SIP secret).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mapping.spec import DISABLED, ENABLED, FieldSpec
from gateway.mapping.text import apply_transforms, compile_pattern, extract, parse_template
from gateway.models import FLAG_FIELDS, DirectoryUser


@dataclass(frozen=True)
class Scope:
    """The user being mapped, and the current value of an account's ``for_each`` attribute."""

    user: DirectoryUser
    each_attribute: str | None = None
    each_value: str | None = None

    def values(self, attribute: str) -> tuple[str, ...]:
        """The attribute's non-blank values, trimmed, in directory order."""
        if self.each_attribute and self.each_value and attribute.lower() == self.each_attribute.lower():
            return (self.each_value,)
        return tuple(stripped for value in self.user.attributes.get(attribute) if (stripped := value.strip()))

    def first(self, attribute: str) -> str | None:
        found = self.values(attribute)
        return found[0] if found else None


@dataclass(frozen=True)
class Resolved:
    value: str | None
    missing: str = ""


def resolve(scope: Scope, name: str, spec: FieldSpec) -> Resolved:
    """The field's value for this user, or None and the reason."""
    if spec.value is not None:
        return Resolved(spec.value)
    if spec.is_condition:
        return _condition(scope, name, spec)
    found = _from_template(scope, spec) if spec.template is not None else _from_attributes(scope, spec)
    if found.value is None and spec.default is not None:
        return Resolved(spec.default)
    return found


def _condition(scope: Scope, name: str, spec: FieldSpec) -> Resolved:
    flag = name in FLAG_FIELDS
    if condition_holds(scope, spec):
        return Resolved(spec.then if spec.then is not None else ENABLED)
    if spec.otherwise is not None or flag:
        return Resolved(spec.otherwise if spec.otherwise is not None else DISABLED)
    return Resolved(None, f"{describe_condition(spec)} is not true and no else is given")


def condition_holds(scope: Scope, spec: FieldSpec) -> bool:
    if spec.member_of is not None:
        return scope.user.is_member_of(spec.member_of)
    if spec.present is not None:
        return bool(scope.values(spec.present))
    pattern = compile_pattern(spec.matches or "")
    return any(pattern.search(value) for attribute in spec.attributes() for value in scope.values(attribute))


def describe_condition(spec: FieldSpec) -> str:
    if spec.member_of is not None:
        return f"member of {spec.member_of}"
    if spec.present is not None:
        return f"attribute {spec.present} has a value"
    return f"{_names(spec.attributes())} matches {spec.matches!r}"


def _from_attributes(scope: Scope, spec: FieldSpec) -> Resolved:
    emptied_by = ""
    for attribute in spec.attributes():
        for raw in scope.values(attribute):
            value, step = refine(raw, spec)
            if value:
                return Resolved(value)
            emptied_by = emptied_by or step
    if emptied_by == "extract":
        return Resolved(None, f"no value of {_names(spec.attributes())} matches extract {spec.extract!r}")
    if emptied_by == "transform":
        return Resolved(None, f"no value of {_names(spec.attributes())} is left after {_transforms(spec)}")
    verb = "has" if len(spec.attributes()) == 1 else "have"
    return Resolved(None, f"{_names(spec.attributes())} {verb} no value")


def _from_template(scope: Scope, spec: FieldSpec) -> Resolved:
    template = spec.template or ""
    pieces: list[str] = []
    missing: list[str] = []
    for literal, attribute in parse_template(template):
        pieces.append(literal)
        if attribute is not None:
            value = scope.first(attribute)
            if value is None:
                missing.append(attribute)
            pieces.append(value or "")
    if missing:
        verb = "has" if len(missing) == 1 else "have"
        return Resolved(None, f"template {template!r}: {_names(tuple(missing))} {verb} no value")
    value, step = refine("".join(pieces), spec)
    if value:
        return Resolved(value)
    if step == "extract":
        return Resolved(None, f"template {template!r}: the result does not match extract {spec.extract!r}")
    return Resolved(None, f"template {template!r}: nothing is left after {_transforms(spec)}")


def refine(text: str, spec: FieldSpec) -> tuple[str | None, str]:
    """Apply ``extract`` then ``transform``; when nothing is left, also name the step that emptied it."""
    if spec.extract is not None:
        extracted = extract(spec.extract, text)
        if not extracted:
            return None, "extract"
        text = extracted
    text = apply_transforms(text, spec.transform)
    return (text, "") if text else (None, "transform")


def _transforms(spec: FieldSpec) -> str:
    return f"transform {', '.join(spec.transform)}"


def _names(attributes: tuple[str, ...]) -> str:
    if len(attributes) == 1:
        return f"attribute {attributes[0]}"
    return f"attributes {', '.join(attributes)}"
