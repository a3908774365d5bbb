"""The layers of ``gateway/`` and the imports each may not make, stated once.

    python -m tests.architecture      # prints each layer and its modules; exit 1 on a forbidden import

A layer is a set of modules; a rule forbids a layer to import some packages *directly*
(``import x`` / ``from x import y`` written in the module, at any depth of the file, including
imports only made for type checking). The third-party packages are the ports' own: ldap3 belongs to
``gateway/directory``, SQLAlchemy to ``gateway/store``, Falcon and waitress to the HTTP edge.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gateway"

#: Layer name → the modules in it (paths relative to gateway/, a trailing "/" for a sub-package).
LAYERS: dict[str, tuple[str, ...]] = {
    "web": ("web/",),
    "service": (
        "service.py",
        "decision.py",
        "observed.py",
        "shield.py",
        "safety_valve.py",
        "entitlement.py",
        "fingerprint.py",
        "attempts.py",
        "observer.py",
        "models.py",
        "errors.py",
    ),
    "directory": ("directory/",),
    "store": ("store/",),
    "mapping": ("mapping/",),
}

#: Layer name → the top-level packages its modules must not import directly.
FORBIDDEN: dict[str, frozenset[str]] = {
    "mapping": frozenset({"ldap3", "sqlalchemy", "alembic", "falcon", "waitress"}),
    "service": frozenset({"ldap3", "sqlalchemy", "alembic", "falcon", "waitress"}),
    "web": frozenset({"ldap3", "sqlalchemy", "alembic"}),
    "directory": frozenset({"sqlalchemy", "alembic", "falcon", "waitress"}),
    "store": frozenset({"ldap3", "falcon", "waitress"}),
}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    layer: str

    def __str__(self) -> str:
        return f"gateway/{self.module}:{self.line}: the {self.layer} layer imports {self.imported}"


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        if any(module == m or (m.endswith("/") and module.startswith(m)) for m in members):
            return layer
    return None


def modules() -> Iterator[str]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix()


def direct_imports(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every absolute import written in ``gateway/<module>``."""
    tree = ast.parse((PACKAGE / module).read_text(), filename=module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def violations() -> list[Violation]:
    found = []
    for module in modules():
        layer = layer_of(module)
        if layer is None:
            continue
        for line, imported in direct_imports(module):
            if imported.split(".")[0] in FORBIDDEN.get(layer, frozenset()):
                found.append(Violation(module, line, imported, layer))
    return found


def main() -> int:
    for layer, members in LAYERS.items():
        shown = [m for m in modules() if layer_of(m) == layer]
        forbidden = ", ".join(sorted(FORBIDDEN.get(layer, ()))) or "nothing"
        print(f"{layer} (must not import {forbidden}):")
        for module in shown:
            print(f"    gateway/{module}")
        assert shown, f"layer {layer} has no modules: {members}"
    found = violations()
    for violation in found:
        print(violation)
    print("import boundaries: " + ("ok" if not found else f"{len(found)} forbidden import(s)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
