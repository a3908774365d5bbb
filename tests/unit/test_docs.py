"""Documentation that users rely on stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from gateway.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def setting_names(model: type[BaseModel], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= setting_names(annotation, f"{prefix}{name}.")
        else:
            names.add(prefix + name)
    return names


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    text = (DOCS / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", text, flags=re.MULTILINE))
    assert setting_names(Settings) - documented == set(), "settings missing from docs/configuration.md"
    assert documented - setting_names(Settings) == set(), "docs/configuration.md documents unknown settings"
