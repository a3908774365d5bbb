"""The layers stay apart: the rules are stated once, in ``tests/architecture.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import architecture


def test_no_layer_imports_a_package_it_must_not() -> None:
    assert [str(v) for v in architecture.violations()] == []


def test_every_layer_names_modules_that_exist() -> None:
    for layer, members in architecture.LAYERS.items():
        for member in members:
            assert (architecture.PACKAGE / member.rstrip("/")).exists(), f"{layer}: gateway/{member} does not exist"


def test_a_forbidden_import_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: an ldap3 import written in the mapping layer is reported."""
    (tmp_path / "mapping").mkdir()
    (tmp_path / "mapping" / "bad.py").write_text("from ldap3 import Connection\n")
    (tmp_path / "mapping" / "good.py").write_text("import re\n")
    monkeypatch.setattr(architecture, "PACKAGE", tmp_path)
    assert [str(v) for v in architecture.violations()] == ["gateway/mapping/bad.py:1: the mapping layer imports ldap3"]
