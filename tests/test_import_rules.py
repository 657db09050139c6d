"""Layering rules: core never pulls in FUSE or Textual, rdb never pulls in a Redis
client, and no two redisfs_tui modules import each other in a cycle."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import redisfs_tui

PACKAGE = Path(redisfs_tui.__file__).parent
ROOT = PACKAGE.parent

CORE_FORBIDDEN = ("textual", "fuse", "mfusepy", "redisfs_tui.mount", "redisfs_tui.ui",
                  "redisfs_tui.cli")
RDB_FORBIDDEN = ("redis", "hiredis", "textual", "fuse", "mfusepy", "redisfs_tui.core",
                 "redisfs_tui.mount", "redisfs_tui.ui", "redisfs_tui.cli")

_PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def _loaded_by(package: str) -> tuple[list[str], list[str]]:
    """Import a package and all its modules in a fresh interpreter; what got loaded?"""
    done = subprocess.run([sys.executable, "-c", _PROBE, package], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return result["imported"], result["modules"]


def _hits(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_core_imports_neither_fuse_nor_textual() -> None:
    imported, modules = _loaded_by("redisfs_tui.core")
    assert "redisfs_tui.core.fs" in imported and "redisfs_tui.core.local_server" in imported
    assert "redis" in modules  # the probe really loaded the core
    assert _hits(modules, CORE_FORBIDDEN) == []


def test_rdb_imports_no_redis_client() -> None:
    imported, modules = _loaded_by("redisfs_tui.rdb")
    assert imported[0] == "redisfs_tui.rdb"
    assert _hits(modules, RDB_FORBIDDEN) == []


# -- static view ------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str) -> set[str]:
    """Modules this module imports at run time (TYPE_CHECKING blocks excluded)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def test_static_imports_of_core_and_rdb() -> None:
    core = [n for n in MODULES if n.startswith("redisfs_tui.core")]
    rdb = [n for n in MODULES if n.startswith("redisfs_tui.rdb")]
    assert "redisfs_tui.core.fs" in core and "redisfs_tui.rdb" in rdb
    assert "redisfs_tui.core.errors" in GRAPH["redisfs_tui.core.fs"]  # the parser resolves
    bad = {n: _hits(sorted(GRAPH[n]), CORE_FORBIDDEN) for n in core}
    assert {n: h for n, h in bad.items() if h} == {}
    bad = {n: _hits(sorted(GRAPH[n]), RDB_FORBIDDEN) for n in rdb}
    assert {n: h for n, h in bad.items() if h} == {}


def test_ui_reaches_redis_only_through_core() -> None:
    """Every Redis call of the app goes through core (and so runs the same code
    paths, errno mapping and key names as the daemon)."""
    ui = [n for n in MODULES if n.startswith("redisfs_tui.ui")]
    assert "redisfs_tui.ui.app" in ui
    # mount.spawn (starting/stopping daemon processes) is fine; the FUSE layer is not
    forbidden = ("redis", "hiredis", "mfusepy", "fuse", "redisfs_tui.mount.lowlevel",
                 "redisfs_tui.mount.requests",
                 "redisfs_tui.mount.operations", "redisfs_tui.mount.runner")
    bad = {n: _hits(sorted(GRAPH[n]), forbidden) for n in ui}
    assert {n: h for n, h in bad.items() if h} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return out


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_redisfs_tui_modules() -> None:
    internal = {n: {m for m in deps if m in MODULES} for n, deps in GRAPH.items()}
    assert sum(len(v) for v in internal.values()) > 10  # the graph is really built
    assert _cycles(internal) == []
