"""The package's import structure, read from the source (every ``import`` statement, also those inside
functions): no import cycle; the core imports no integration (the engine and the trainer are objects
passed in from the top); no module imports another module's private name."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "python"
PKG = ROOT / "stagekit"

#: Modules that may import ``stagekit.integrations``: the integrations themselves, the one place that maps
#: an engine name to its object, the default trainer (trl), and the public façade's lazy attributes.
MAY_IMPORT_INTEGRATIONS = ("stagekit.integrations", "stagekit.engine", "stagekit.training", "stagekit")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}
PACKAGES = {module_name(p) for p in PKG.rglob("__init__.py")}
# Extension modules (the Rust core) count as modules too.
MODULES_AND_EXT = set(MODULES) | {module_name(p) for p in PKG.rglob("*.pyi")}


@dataclass(frozen=True)
class Import:
    importer: str
    module: str  # the module imported (a submodule when ``from pkg import submodule``)
    name: str | None  # the name taken from it (``from module import name``), None for a module import
    line: int
    type_only: bool  # inside ``if TYPE_CHECKING:``


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    out: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append(Import(name, a.name, None, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importer's package
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in MODULES_AND_EXT:
                    out.append(Import(name, sub, None, node.lineno, type_only))
                else:
                    out.append(Import(name, base, a.name, node.lineno, type_only))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return out


ALL = [i for name, path in MODULES.items() for i in imports_of(name, path)]
OURS = [i for i in ALL if i.module == "stagekit" or i.module.startswith("stagekit.")]


def _where(i: Import) -> str:
    return f"{MODULES[i.importer].relative_to(ROOT.parent)}:{i.line}: {i.module}{'' if i.name is None else ' ' + i.name}"


def test_the_graph_is_read():
    assert len(MODULES) > 20 and len(OURS) > 50
    assert any(i.importer == "stagekit.loop" and i.module == "stagekit.runner" for i in OURS)
    # a function-level import is an edge too
    assert any(i.importer == "stagekit.engine" and i.module == "stagekit.integrations.ray" for i in OURS)


def cycles(imports: list[Import]) -> list[list[str]]:
    """Import cycles among stagekit's modules (strongly connected components of the runtime import graph)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        graph.setdefault(i.importer, set())
        if not i.type_only and i.module != i.importer and (i.module == "stagekit" or i.module.startswith("stagekit.")):
            graph[i.importer].add(i.module)
            graph.setdefault(i.module, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def integration_violations(imports: list[Import]) -> list[Import]:
    """Imports of an integration by a module that is not allowed one."""
    allowed = [m for m in MAY_IMPORT_INTEGRATIONS if m != "stagekit"]
    return [i for i in imports if i.module.startswith("stagekit.integrations") and i.importer != "stagekit"
            and not any(i.importer == m or i.importer.startswith(m + ".") for m in allowed)]


def _private_parent(module: str) -> str | None:
    """The package that owns the first private component of a module path (``stagekit.transforms`` for
    ``stagekit.transforms._contract``), or None when the path has no private component."""
    parts = module.split(".")
    for k, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:k])
    return None


def _inside(importer: str, package: str) -> bool:
    return importer == package or importer.startswith(package + ".")


def private_violations(imports: list[Import]) -> list[str]:
    """A private module imported from outside its package, or a private name from another module."""
    bad = []
    for i in imports:
        owner = _private_parent(i.module)
        if owner is not None and not _inside(i.importer, owner):
            bad.append(f"{i.importer}: {i.module} is a private module of {owner}")
        if i.name and i.name.startswith("_") and not i.name.startswith("__") and i.module != i.importer:
            bad.append(f"{i.importer}: {i.module}.{i.name} is a private name")
    return bad


def test_no_import_cycle():
    assert not cycles(OURS), f"import cycles: {cycles(OURS)}"


def test_the_core_imports_no_integration():
    bad = integration_violations(OURS)
    assert not bad, "modules outside the integrations, the engine choice and the trainer import an integration:\n" + \
        "\n".join(_where(i) for i in bad)
    # what the issue names: nothing under transforms/ or pipeline (nor the stage-set code both engines share)
    for i in OURS:
        if i.importer.startswith("stagekit.transforms") or i.importer in ("stagekit.pipeline", "stagekit.stagesets"):
            assert not i.module.startswith("stagekit.integrations"), _where(i)


def test_no_private_name_is_imported_across_modules():
    bad = private_violations(OURS)
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_the_checks_fail_on_what_they_are_for():
    """Each check finds the import it exists to catch (the ones this package had)."""
    imp = lambda importer, module, name=None: Import(importer, module, name, 1, False)  # noqa: E731
    # pipeline.plan imported integrations.ray, which imported pipeline
    assert cycles([imp("stagekit.pipeline", "stagekit.integrations.ray"), imp("stagekit.integrations.ray", "stagekit.pipeline")]) \
        == [["stagekit.integrations.ray", "stagekit.pipeline"]]
    assert cycles([imp("stagekit.a", "stagekit.b"), imp("stagekit.b", "stagekit.c")]) == []
    assert integration_violations([imp("stagekit.pipeline", "stagekit.integrations.ray")])
    assert integration_violations([imp("stagekit.transforms.score", "stagekit.integrations.trl", "to_dataset")])
    assert not integration_violations([imp("stagekit.engine", "stagekit.integrations.ray", "RayEngine")])
    assert private_violations([imp("stagekit.loop", "stagekit.pipeline", "_sha256")])
    assert private_violations([imp("stagekit.loop", "stagekit.transforms._contract", "explode")])
    assert private_violations([imp("stagekit.loop", "stagekit.integrations.trl", "_dataset")])
    assert not private_violations([imp("stagekit.transforms.cft", "stagekit.transforms._contract", "explode")])
    assert not private_violations([imp("stagekit.transforms.cft", "stagekit._core")])
