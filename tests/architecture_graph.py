"""The project's import graph, read statically: each import statement of its modules, resolved to dotted names."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT = ("studio", "bot", "cli", "engine", "storage", "web")


@dataclass(frozen=True)
class Edge:
    """One import of a project module: who imports what, where, and when it runs."""

    source: str
    target: str
    line: int
    how: str  # "top", "lazy" (inside a function) or "typing" (under `if TYPE_CHECKING`)

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target} ({self.how})"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    """Every project module under `root`, by dotted name."""
    found = {}
    for package in PROJECT:
        for path in sorted((root / package).rglob("*.py")):
            found[_module_name(path, root)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: Iterable[ast.AST], how: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Each import statement among `nodes` and below, with when it runs: at import, lazily, or never."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, how
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(ast.iter_child_nodes(node), "lazy" if how == "top" else how)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, "typing")
            yield from _walk(node.orelse, how)
        else:
            yield from _walk(ast.iter_child_nodes(node), how)


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: set[str]) -> list[str]:
    """The dotted modules one import statement reaches; `from pkg import mod` reaches `pkg.mod`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if base == "__future__":
        return []
    if node.level:
        package = name.split(".") if is_package else name.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            targets.append(sub)
        elif base.split(".")[0] not in PROJECT:
            targets += [base, sub]  # third party: `from aiohttp import web` is aiohttp.web, unknowable statically
        else:
            targets.append(base)
    return list(dict.fromkeys(targets))


def read_imports(root: Path) -> list[Edge]:
    """Every import statement of every project module under `root`, resolved to dotted names."""
    modules = project_modules(root)
    known = set(modules)
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, how in _walk(tree.body, "top"):
            for target in _targets(node, name, path.name == "__init__.py", known):
                edges.append(Edge(name, target, node.lineno, how))
    return edges
