"""The layers of ``gateway/``, what each may reach, and no import cycles — stated once, here.

    python -m tests.architecture      # prints the layers and their modules; exit 1 on a broken rule

Every ``import`` written in a module counts, at any depth of the file (lazy imports in functions
and imports for type checking too), and so does every module those import in turn: a rule says
what a layer must never reach, directly or through another module. Importing ``a.b.c`` also runs
``a/__init__`` and ``a/b/__init__``, so those count as reached too.

The third-party packages are the ports' own: ldap3 belongs to ``gateway/directory``, SQLAlchemy
and Alembic to ``gateway/store``, Falcon and waitress to ``gateway/web``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gateway"

#: Layer → its modules (paths under gateway/; a trailing "/" is a sub-package), inner layers first.
LAYERS: dict[str, tuple[str, ...]] = {
    "vocabulary": ("models.py", "errors.py", "field_limits.py"),
    "mapping": ("mapping/",),
    "settings": ("settings.py", "credential_store.py"),
    "provisioning": ("provisioning/",),
    "directory": ("directory/",),
    "store": ("store/",),
    "web": ("web/",),
    "ops": ("ops/",),
    "entry points": ("app.py", "cli/", "windows_service.py", "__main__.py", "__init__.py", "demo/"),
}

_PORTS = ("ldap3", "sqlalchemy", "alembic", "falcon", "waitress")
#: Layer → what its modules must never reach (third-party packages and gateway packages).
FORBIDDEN: dict[str, frozenset[str]] = {
    "vocabulary": frozenset({*_PORTS, "gateway.mapping", "gateway.settings", "gateway.provisioning"}),
    "mapping": frozenset({*_PORTS, "gateway.directory", "gateway.store", "gateway.web", "gateway.provisioning"}),
    "provisioning": frozenset({*_PORTS, "gateway.store", "gateway.web", "gateway.ops", "gateway.cli", "gateway.app"}),
    "directory": frozenset({"sqlalchemy", "alembic", "falcon", "waitress", "gateway.store", "gateway.web"}),
    "store": frozenset({"ldap3", "falcon", "waitress", "gateway.directory", "gateway.web"}),
    "web": frozenset({"ldap3", "sqlalchemy", "alembic", "gateway.directory", "gateway.store", "gateway.cli"}),
    "ops": frozenset({"falcon", "waitress", "gateway.web", "gateway.cli", "gateway.app"}),
}


@dataclass(frozen=True)
class Violation:
    module: str
    reached: str
    path: tuple[str, ...]
    layer: str

    def __str__(self) -> str:
        return f"{self.module} ({self.layer}) reaches {self.reached}: {' -> '.join(self.path)}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}
    return dict(sorted(found.items()))


def layer_of(module: str) -> str | None:
    relative = module.removeprefix("gateway").lstrip(".").replace(".", "/")
    path = modules()[module].relative_to(PACKAGE).as_posix() if module in modules() else relative + ".py"
    for layer, members in LAYERS.items():
        if any(path == m or (m.endswith("/") and path.startswith(m)) for m in members):
            return layer
    return None


def _written_imports(module: str) -> Iterator[str]:
    tree = ast.parse(modules()[module].read_text(), filename=str(modules()[module]))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for alias in node.names:  # ``from gateway.cli import devices`` imports a module
                if f"{node.module}.{alias.name}" in modules():
                    yield f"{node.module}.{alias.name}"


@cache
def imports(module: str) -> frozenset[str]:
    """What ``module`` imports: gateway modules (with their parent packages) and top-level
    third-party packages."""
    found: set[str] = set()
    for name in _written_imports(module):
        if name == "gateway" or name.startswith("gateway."):
            parts = name.split(".")
            found.update(".".join(parts[:n]) for n in range(2, len(parts) + 1) if ".".join(parts[:n]) in modules())
        else:
            found.add(name.split(".")[0])
    found.discard(module)
    return frozenset(found)


def reach(module: str) -> dict[str, tuple[str, ...]]:
    """Everything ``module`` reaches, each with one import path to it."""
    paths: dict[str, tuple[str, ...]] = {module: (module,)}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in sorted(imports(current)):
            if name not in paths:
                paths[name] = (*paths[current], name)
                if name in modules():
                    todo.append(name)
    return paths


def _forbidden(name: str, rules: frozenset[str]) -> bool:
    return any(name == rule or name.startswith(rule + ".") for rule in rules)


def violations() -> list[Violation]:
    found = []
    for module in modules():
        layer = layer_of(module)
        rules = FORBIDDEN.get(layer or "", frozenset())
        for name, path in reach(module).items():
            if _forbidden(name, rules):
                found.append(Violation(module, name, path, layer or "?"))
    return found


def cycles() -> list[tuple[str, ...]]:
    """Import cycles among gateway modules (each found once, from its smallest member)."""
    found: set[tuple[str, ...]] = set()
    for module in modules():
        for name, path in reach(module).items():
            if name in modules() and module in imports(name) and name != module:
                cycle = (*path, module)
                start = cycle.index(min(cycle[:-1]))
                found.add((*cycle[start:-1], *cycle[:start], cycle[start]))
    return sorted(found)


def unplaced() -> list[str]:
    return [module for module in modules() if layer_of(module) is None]


def main() -> int:
    for layer in LAYERS:
        members = [m for m in modules() if layer_of(m) == layer]
        rules = ", ".join(sorted(FORBIDDEN.get(layer, ()))) or "nothing (entry points wire everything)"
        print(f"{layer}  (never reaches: {rules})")
        for module in members:
            print(f"    {module}")
    problems = [*(str(v) for v in violations()), *(f"cycle: {' -> '.join(c)}" for c in cycles())]
    problems += [f"{m} is in no layer" for m in unplaced()]
    for problem in problems:
        print(problem)
    print("architecture: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
