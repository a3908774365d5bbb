"""Layering schema files: a site file over its base preset, remembering where every key came from.

The merge works on the parsed TOML (plain dicts) *before* validation, so the merged result is
validated once and each problem is traced back to the file and key that supplied the value:

- ``description`` and each key of ``[directory]``: the upper layer wins;
- ``[account_defaults]``: fields every account gets; they override the *lower* layers' accounts,
  and an account's own fields override its own layer's defaults;
- ``[[accounts]]`` with the ``id`` of a lower layer's account: override that account field by
  field (a field is replaced whole); ``enabled = false`` drops it;
- any other ``[[accounts]]``: a new account, after the lower layers' ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.mapping.spec import ACCOUNT_FIELDS, REQUIRED_FIELDS

Location = tuple[int | str, ...]


@dataclass(frozen=True)
class Origin:
    """A key in one file: ``file`` as problems name it, ``key`` the path inside that file."""

    file: str
    key: Location


@dataclass(frozen=True)
class Layer:
    """One parsed schema file."""

    file: str
    data: dict[str, Any]


@dataclass
class _Account:
    fields: dict[str, Any]
    origins: dict[str, Origin]
    origin: Origin


@dataclass
class Merged:
    """The merged document, where each of its keys came from, and the problems merging found."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[Location, Origin] = field(default_factory=dict)
    problems: list[tuple[Origin, str]] = field(default_factory=list)
    top_file: str = ""

    def locate(self, loc: Location) -> Origin:
        """The origin of a location in the merged document (its longest known prefix, plus the rest)."""
        for length in range(len(loc), 0, -1):
            origin = self.origins.get(loc[:length])
            if origin is not None:
                return Origin(origin.file, origin.key + loc[length:])
        return Origin(self.top_file, loc)


def merge(layers: list[Layer]) -> Merged:
    """Merge ``layers`` (lowest first: the preset, then the site file) into one document."""
    merged = Merged(top_file=layers[-1].file)
    accounts: list[_Account] = []
    defaults: list[tuple[Layer, dict[str, Any]]] = []
    for layer in layers:
        for key, value in layer.data.items():
            if key == "directory" and isinstance(value, dict):
                _merge_table(merged, key, value, layer)
            elif key not in ("base", "accounts", "account_defaults"):
                merged.data[key] = value
                merged.origins[(key,)] = Origin(layer.file, (key,))
        layer_defaults = _defaults(merged, layer)
        for account in accounts:  # an upper layer's defaults override the lower layers' accounts
            _apply(account, layer_defaults, layer.file, "account_defaults")
        defaults.append((layer, layer_defaults))
        _merge_accounts(merged, accounts, defaults, layer)
    _emit_accounts(merged, accounts, layers)
    return merged


def _merge_table(merged: Merged, key: str, table: dict[str, Any], layer: Layer) -> None:
    target = merged.data.get(key)
    if not isinstance(target, dict):
        target = merged.data[key] = {}
    merged.origins[(key,)] = Origin(layer.file, (key,))
    for name, value in table.items():
        target[name] = value
        merged.origins[(key, name)] = Origin(layer.file, (key, name))


def _defaults(merged: Merged, layer: Layer) -> dict[str, Any]:
    raw = layer.data.get("account_defaults", {})
    if not isinstance(raw, dict):
        merged.problems.append((Origin(layer.file, ("account_defaults",)), "must be a table ([account_defaults])"))
        return {}
    usable = {}
    for name, value in raw.items():
        if name in ACCOUNT_FIELDS:
            usable[name] = value
        else:
            message = f"not an account field; defaults can be given for {', '.join(ACCOUNT_FIELDS)}"
            merged.problems.append((Origin(layer.file, ("account_defaults", name)), message))
    return usable


def _apply(account: _Account, values: dict[str, Any], file: str, table: str | tuple[str, int]) -> None:
    prefix: Location = (table,) if isinstance(table, str) else table
    for name, value in values.items():
        account.fields[name] = value
        account.origins[name] = Origin(file, (*prefix, name))


def _merge_accounts(
    merged: Merged, accounts: list[_Account], defaults: list[tuple[Layer, dict[str, Any]]], layer: Layer
) -> None:
    tables = layer.data.get("accounts", [])
    if not isinstance(tables, list):
        merged.problems.append((Origin(layer.file, ("accounts",)), "must be an array of tables ([[accounts]])"))
        return
    lower = {account.fields.get("id"): account for account in accounts if isinstance(account.fields.get("id"), str)}
    seen: dict[str, int] = {}
    for index, table in enumerate(tables):
        origin = Origin(layer.file, ("accounts", index))
        if not isinstance(table, dict):
            merged.problems.append((origin, "must be a table ([[accounts]])"))
            continue
        account_id = table.get("id")
        if isinstance(account_id, str):
            if account_id in seen:
                message = f"{account_id!r} is also the id of accounts[{seen[account_id] + 1}] in this file"
                merged.problems.append((Origin(layer.file, ("accounts", index, "id")), message))
                continue
            seen[account_id] = index
        if isinstance(account_id, str) and account_id in lower:
            target = lower[account_id]
            _apply(target, table, layer.file, ("accounts", index))
            target.origin = origin
            continue
        account = _Account({}, {}, origin)
        for defaults_layer, values in defaults:
            _apply(account, values, defaults_layer.file, "account_defaults")
        _apply(account, table, layer.file, ("accounts", index))
        if _unknown_override(merged, account, lower, layer, index):
            continue
        accounts.append(account)


def _unknown_override(merged: Merged, account: _Account, lower: dict[Any, _Account], layer: Layer, index: int) -> bool:
    """An incomplete account whose id matches nothing below is a mistyped override, not a new account."""
    account_id = account.fields.get("id")
    missing = [name for name in REQUIRED_FIELDS if name not in account.fields]
    if not lower or not isinstance(account_id, str) or not missing:
        return False
    known = ", ".join(str(name) for name in lower) or "none"
    message = (
        f"{account_id!r} is not the id of an account below this file (ids: {known}); "
        f"a new account needs {', '.join(missing)}"
    )
    merged.problems.append((Origin(layer.file, ("accounts", index, "id")), message))
    return True


def _emit_accounts(merged: Merged, accounts: list[_Account], layers: list[Layer]) -> None:
    if not any("accounts" in layer.data for layer in layers):
        return  # validation reports the missing [[accounts]] against the top file
    kept: list[_Account] = []
    for account in accounts:
        enabled = account.fields.pop("enabled", True)
        if enabled is False:
            continue
        if enabled is not True:
            merged.problems.append((account.origins["enabled"], "must be true or false"))
        kept.append(account)
    merged.data["accounts"] = [account.fields for account in kept]
    for index, account in enumerate(kept):
        merged.origins[("accounts", index)] = account.origin
        for name, origin in account.origins.items():
            merged.origins[("accounts", index, name)] = origin
