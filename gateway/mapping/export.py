"""The effective schema written back out (``schema show``): plain data, TOML text, secrets masked.

The TOML reads back into the same schema, so an admin can start a site file from it. Literal
texts of ``sippassword`` (``value``, ``default``, ``then``, ``else``) are replaced by a mask:
showing the schema must never show a SIP secret.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.mapping.spec import AccountSpec, AttributeSchema

SECRET_FIELDS = ("sippassword",)
MASK = "********"
_SECRET_KEYS = ("value", "default", "then", "else")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def schema_data(schema: AttributeSchema) -> dict[str, Any]:
    """The schema as TOML/JSON-ready data, in the file format's key order."""
    data: dict[str, Any] = {}
    if schema.description:
        data["description"] = schema.description
    data["directory"] = schema.directory.model_dump(mode="json")
    data["accounts"] = [_account_data(account) for account in schema.accounts]
    return data


def _account_data(account: AccountSpec) -> dict[str, Any]:
    data: dict[str, Any] = account.model_dump(
        mode="json", include={"id", "for_each", "granted_by"}, exclude_defaults=True
    )
    for name, spec in account.field_specs().items():
        field: dict[str, Any] = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if name in SECRET_FIELDS:
            field = {key: MASK if key in _SECRET_KEYS else value for key, value in field.items()}
        data[name] = field["value"] if list(field) == ["value"] else field
    return data


def literal_secrets(schema: AttributeSchema) -> list[str]:
    """Accounts whose SIP secret is fixed text in the schema file (readable by whoever reads the file)."""
    found = []
    for number, account in enumerate(schema.accounts, start=1):
        spec = account.sippassword
        if spec.value is not None or spec.default is not None or spec.is_condition:
            found.append(account.label(number))
    return found


def to_toml(data: dict[str, Any], header: str = "") -> str:
    """TOML for ``schema_data``: scalars first, then tables, then arrays of tables."""
    lines = [f"# {line}" for line in header.splitlines()]
    tables = {key: value for key, value in data.items() if isinstance(value, dict)}
    arrays = {key: value for key, value in data.items() if _is_table_array(value)}
    lines.extend(f"{_key(key)} = {_value(value)}" for key, value in data.items() if key not in {*tables, *arrays})
    for key, table in tables.items():
        lines.extend(["", f"[{_key(key)}]", *(f"{_key(name)} = {_value(value)}" for name, value in table.items())])
    for key, items in arrays.items():
        for item in items:
            lines.extend(["", f"[[{_key(key)}]]", *(f"{_key(name)} = {_value(value)}" for name, value in item.items())])
    return "\n".join(lines) + "\n"


def _is_table_array(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(key)} = {_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _string(text: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
