"""The package graph and where SQL lives. Every ``lambent.X`` import between first-level packages
(and the top-level modules ``settings``, ``errors``, ``arns``, ``platform``...) must be an arrow allowed in
docs/architecture.md ("The packages, and who may import whom"), and the graph has no cycle.

Imports are read with :mod:`ast` from the source, so lazy imports inside functions and
``TYPE_CHECKING`` blocks count too: a cycle hidden in a function body is still a cycle. No module
outside ``store/`` imports a database driver."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambent"
DOC = ROOT / "docs" / "architecture.md"


def _unit(parts: tuple[str, ...]) -> str:
    """The first-level package or top-level module a dotted path under ``lambent`` belongs to."""
    return parts[0].removesuffix(".py")


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """First-level unit -> the units it imports (itself excluded)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).parts
        if rel == ("__init__.py",):
            continue
        src = _unit(rel)
        targets = graph.setdefault(src, set())
        # relative imports resolve against the module's own package
        pkg = ("lambent", *rel[:-1])
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[: len(pkg) - node.level + 1]
                    mod = ".".join((*base, node.module)) if node.module else ".".join(base)
                else:
                    mod = node.module or ""
                names = [mod]
                if mod == "lambent":  # ``from lambent import arns``
                    names = [f"lambent.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "lambent" and len(parts) > 1 and parts[1] != src:
                    targets.add(parts[1])
    return graph


def allowed_arrows() -> dict[str, set[str]]:
    """The ``unit -> a, b, c`` lines of the fenced block after "Allowed arrows" in the doc."""
    text = DOC.read_text()
    section = text.split("## The packages, and who may import whom", 1)[1].split("\n## ", 1)[0]
    block = section.split("Allowed arrows", 1)[1].split("```", 2)[1]
    arrows: dict[str, set[str]] = {}
    for line in block.splitlines():
        m = re.fullmatch(r"\s*([a-z_]+)\s*->\s*(.*?)\s*", line)
        if m:
            arrows[m.group(1)] = {t.strip() for t in m.group(2).split(",") if t.strip() and t.strip() != "(nothing)"}
    return arrows


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_every_import_is_an_allowed_arrow() -> None:
    graph, allowed = import_graph(), allowed_arrows()
    assert set(graph) <= set(allowed), f"units missing from docs/architecture.md: {sorted(set(graph) - set(allowed))}"
    forbidden = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if b not in allowed[a])
    assert forbidden == []


def test_allowed_arrows_have_no_cycle() -> None:
    # The documented graph itself is acyclic, so the code (a subgraph of it) is too.
    assert find_cycle(allowed_arrows()) is None


def test_the_code_graph_has_no_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_the_checker_sees_lazy_relative_and_type_checking_imports(tmp_path: Path) -> None:
    # The checker itself, on a made-up package: every way of importing is an edge, and a cycle is found.
    pkg = tmp_path / "lambent"
    for d in ("a", "b", "c"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "a" / "m.py").write_text("def f() -> None:\n    from lambent.b import x\n")
    (pkg / "b" / "m.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c.m import y\n")
    (pkg / "c" / "m.py").write_text("from lambent import a\nimport lambent.c.other\n")
    graph = import_graph(pkg)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


#: Database drivers: only ``store/`` may import them (docs/architecture.md: "all SQL").
SQL_MODULES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2")


def sql_importers(package: Path = PACKAGE) -> list[str]:
    """Modules outside ``store/`` that import a database driver (lazily or not)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m.split(".")[0] in SQL_MODULES for m in mods):
                found.append(str(rel))
                break
    return found


def test_no_sql_outside_store() -> None:
    assert sql_importers() == []


def test_the_sql_check_sees_a_lazy_driver_import(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "db.py").write_text("import sqlalchemy\n")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "x.py").write_text("def f() -> None:\n    from sqlalchemy import text\n")
    assert sql_importers(tmp_path) == ["schedules/x.py"]
