"""The layers stay apart and the package has no import cycle: the rules are stated once, in
``tests/architecture.py`` (``python -m tests.architecture`` prints the map)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import architecture


def test_no_layer_reaches_what_it_must_not() -> None:
    assert [str(v) for v in architecture.violations()] == []


def test_the_package_has_no_import_cycle() -> None:
    assert architecture.cycles() == []


def test_every_module_is_in_a_layer() -> None:
    assert architecture.unplaced() == []


def test_every_layer_names_modules_that_exist() -> None:
    for layer, members in architecture.LAYERS.items():
        for member in members:
            assert (architecture.PACKAGE / member.rstrip("/")).exists(), f"{layer}: gateway/{member} does not exist"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small gateway/ of its own for checking the checker."""
    root = tmp_path / "gateway"
    for folder in ("mapping", "web", "directory"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    monkeypatch.setattr(architecture, "PACKAGE", root)
    architecture.modules.cache_clear()
    architecture.imports.cache_clear()
    yield root
    architecture.modules.cache_clear()
    architecture.imports.cache_clear()


def test_a_forbidden_import_through_another_module_is_found(package: Path) -> None:
    (package / "web" / "page.py").write_text("from gateway.mapping.helper import thing\n")
    (package / "mapping" / "helper.py").write_text("def thing():\n    from ldap3 import Connection\n")
    found = [str(v) for v in architecture.violations()]
    assert "gateway.web.page (web) reaches ldap3: gateway.web.page -> gateway.mapping.helper -> ldap3" in found
    assert "gateway.mapping.helper (mapping) reaches ldap3: gateway.mapping.helper -> ldap3" in found


def test_a_cycle_is_found(package: Path) -> None:
    (package / "directory" / "a.py").write_text("import gateway.directory.b\n")
    (package / "directory" / "b.py").write_text("from gateway.directory import a\n")
    assert architecture.cycles() == [("gateway.directory.a", "gateway.directory.b", "gateway.directory.a")]
