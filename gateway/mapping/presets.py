"""Loading the attribute schema: presets shipped in the package, or a file of the site's own.

Presets are TOML files in the top-level ``schema/presets/`` folder; the wheel carries them as
``gateway/_schema/presets/`` so a non-editable install finds them too.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.mapping.spec import AttributeSchema


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
    """Load and validate a schema from a named preset or a file; every problem at once."""
    if (preset is None) == (file is None):
        raise ConfigError(["preset: set exactly one of preset or file"])
    path = preset_path(preset) if preset is not None else Path(file)  # type: ignore[arg-type]
    return parse_schema_file(path)


def parse_schema_file(path: Path) -> AttributeSchema:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read schema file ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return AttributeSchema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {problem}" for problem in describe_errors(exc)]) from None


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
