"""Loading the attribute schema: presets shipped in the package, or a site file layered on one.

Presets are TOML files in the top-level ``schema/presets/`` folder; the wheel carries them as
``gateway/_schema/presets/`` so a non-editable install finds them too. A site file names its
preset with ``base = "active-directory"`` and gives only what differs (``layering``). Every
problem is reported at once, each as ``FILE: key.path: message`` naming the file it came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.errors import ConfigError
from gateway.mapping.layering import Layer, Merged, Origin, merge
from gateway.mapping.spec import AttributeSchema


@dataclass(frozen=True)
class LoadedSchema:
    """The effective schema and the files it was built from, lowest layer first."""

    schema: AttributeSchema
    files: tuple[str, ...]


def schema_root() -> Path:
    """The ``schema/`` folder: inside the installed package, else beside it in a source checkout."""
    packaged = Path(str(resources.files("gateway"))) / "_schema"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schema"


def preset_names() -> list[str]:
    return sorted(path.stem for path in (schema_root() / "presets").glob("*.toml"))


def preset_path(name: str) -> Path:
    path = schema_root() / "presets" / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(preset_names()) or "none found"
        raise ConfigError([f"preset: unknown preset {name!r} (known: {known})"])
    return path


def load_schema(*, preset: str | None = None, file: Path | None = None) -> AttributeSchema:
    """Load and validate a schema from a named preset or a (site) file; every problem at once."""
    return load_layers(preset=preset, file=file).schema


def load_layers(
    *, preset: str | None = None, file: Path | None = None, find_preset: Callable[[str], Path] = preset_path
) -> LoadedSchema:
    """Like ``load_schema``, also naming the files; ``find_preset`` resolves ``base`` names."""
    if (preset is None) == (file is None):
        raise ConfigError(["preset: set exactly one of preset or file"])
    layers = [read_layer(find_preset(preset))] if preset is not None else _site_layers(Path(str(file)), find_preset)
    presets = layers[:-1] if file is not None else layers
    for layer in presets:
        if "base" in layer.data:
            raise ConfigError([f"{layer.file}: base: a preset cannot name a base; only a site file can"])
    merged = merge(layers)
    problems = list(merged.problems)
    try:
        schema = AttributeSchema.model_validate(merged.data)
    except ValidationError as exc:
        problems.extend(_traced(merged, error) for error in exc.errors(include_input=False))
    if problems:
        files = [layer.file for layer in layers]
        problems.sort(key=lambda problem: _document_order(problem[0], files))
        raise ConfigError([f"{origin.file}: {format_location(origin.key)}: {text}" for origin, text in problems])
    return LoadedSchema(schema, tuple(layer.file for layer in layers))


def read_layer(path: Path) -> Layer:
    """One schema file, parsed; ConfigError when it cannot be read or is not TOML."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read schema file ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return Layer(str(path), data)


def _site_layers(path: Path, find_preset: Callable[[str], Path]) -> list[Layer]:
    site = read_layer(path)
    base = site.data.get("base")
    if base is None:
        return [site]
    if not isinstance(base, str):
        raise ConfigError([f"{path}: base: give the name of a preset ({', '.join(preset_names())})"])
    try:
        base_path = find_preset(base)
    except ConfigError as exc:
        raise ConfigError([f"{path}: base: {problem.removeprefix('preset: ')}" for problem in exc.problems]) from None
    return [read_layer(base_path), site]


def _traced(merged: Merged, error: ErrorDetails) -> tuple[Origin, str]:
    return merged.locate(tuple(error["loc"])), error["msg"].removeprefix("Value error, ")


_TOP_KEYS = ("base", "description", "directory", "account_defaults", "accounts")


def _document_order(origin: Origin, files: list[str]) -> tuple[int, int, tuple[int, ...]]:
    """Problems listed file by file (preset first), in the order of the file's sections and tables."""
    top = str(origin.key[0]) if origin.key else ""
    section = _TOP_KEYS.index(top) if top in _TOP_KEYS else len(_TOP_KEYS)
    file = files.index(origin.file) if origin.file in files else len(files)
    return file, section, tuple(part for part in origin.key if isinstance(part, int))


def describe_errors(exc: ValidationError) -> list[str]:
    """Pydantic errors as ``key.path: message`` lines, never echoing the offending value."""
    return [
        f"{format_location(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
        for error in exc.errors(include_input=False)
    ]


def format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"
