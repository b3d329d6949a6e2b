"""The layout docs/architecture.md promises: small modules, no import cycles, one-way layers."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("drivers", "edge", "sync")
MAX_LINES = 500


def modules() -> dict[str, Path]:
    """Our product's modules by dotted name (a package by its own name)."""
    found = {}
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def imported(path: Path) -> Iterator[str]:
    """Every module of ours that ``path`` imports, at run time or for the type checker only."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = _ours(f"{node.module}.{alias.name}") or _ours(node.module)
                if target:
                    yield target
        elif isinstance(node, ast.Import):
            yield from filter(None, (_ours(alias.name) for alias in node.names))


def _ours(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> dict[str, set[str]]:
    return {m: {t for t in imported(p) if t != m} for m, p in MODULES.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start, children_of_start in edges.items():
        if start in index:
            continue
        work = [(start, iter(sorted(children_of_start)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these along a real seam: {long}"


def test_no_import_cycles_not_even_for_the_type_checker() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("drivers")))
def test_drivers_import_nothing_of_ours_but_drivers(module: str) -> None:
    outside = sorted(t for t in imported(MODULES[module]) if not t.startswith("drivers"))
    assert not outside, f"{module} imports {outside}"


_IMPORT_EACH_ALONE = """
import importlib, json, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("drivers", "edge", "sync")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {exc!r}")
print(json.dumps(failed))
"""


def test_every_module_imports_first_whatever_the_order() -> None:
    """A cycle at run time shows only when its modules are imported in one order: import
    each module first, in an interpreter where none of ours is loaded yet."""
    names = sorted(m for m in MODULES if not m.endswith("__main__"))
    env = {**os.environ, "MALLSENSE_PURE_PYTHON": "1"}  # source modules can be reloaded
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH_ALONE, *names],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout.splitlines()[-1]) == []
