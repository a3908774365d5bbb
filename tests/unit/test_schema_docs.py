"""Every schema example in the docs is one the gateway accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gateway.mapping.presets import load_schema
from gateway.mapping.spec import ACCOUNT_FIELDS, AttributeSchema

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [DOCS / "attribute-schema.md", *sorted((DOCS / "presets").glob("*.md"))]
TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)
FIELD_LINE = re.compile(r"^([a-z_]+)\s*=", flags=re.MULTILINE)
BASE_LINE = re.compile(r"^base = ", flags=re.MULTILINE)


def examples() -> list[object]:
    found = []
    for page in PAGES:
        for number, block in enumerate(TOML_BLOCK.findall(page.read_text()), start=1):
            found.append(pytest.param(block, id=f"{page.relative_to(DOCS)}#{number}"))
    return found


def test_every_preset_has_a_page() -> None:
    assert sorted(path.stem for path in (DOCS / "presets").glob("*.md")) == [
        "active-directory",
        "asterisk",
        "freeipa",
        "openldap",
    ]


@pytest.mark.parametrize("block", examples())
def test_schema_example_is_valid(block: str, tmp_path: Path) -> None:
    if "[[accounts]]" in block or BASE_LINE.search(block):
        path = tmp_path / "example.toml"
        path.write_text(block)
        assert load_schema(file=path).accounts
        return
    lines = [line for line in block.splitlines() if FIELD_LINE.match(line)]
    assert lines, "a toml example with neither a schema nor field lines"
    for line in lines:
        name, value = next(iter(tomllib.loads(line).items()))
        assert name in ACCOUNT_FIELDS, line
        account = {"sipusername": "1", "sippassword": "s", "transport": "UDP", name: value}
        assert AttributeSchema.model_validate({"accounts": [account]}).accounts
