"""The import graph of our packages has no cycle, and the packages keep their boundaries.

Every module of every top-level package (a directory with ``__init__.py`` next to
``pyproject.toml``) is parsed with :mod:`ast`; every ``import`` counts, including those inside
functions and under ``TYPE_CHECKING``, since a cycle dodged with a local import is still a
cycle. Two graphs are checked per package: module to module, and between the sibling
subpackages/modules of each package (a subpackage stands for all its modules).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"tests", "bench", "docs", "examples", "scripts", "deploy", "build", "dist"}


def top_packages(root: Path = ROOT) -> list[str]:
    """Directories of ``root`` holding an ``__init__.py`` (our top-level packages)."""
    return sorted(p.parent.name for p in root.glob("*/__init__.py")
                  if p.parent.name not in SKIP_DIRS and not p.parent.name.startswith("."))


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``tree`` imports (``from p import m`` counts ``p.m`` when
    ``p.m`` is a module, else ``p``)."""
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_longest_known(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else _longest_known(base, known))
    found.discard("")
    found.discard(module)
    return found


def _longest_known(name: str, known: set[str]) -> str:
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return ""


def build_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of our packages it imports."""
    files = {module_name(p, root): p for pkg in top_packages(root)
             for p in (root / pkg).rglob("*.py")}
    known = set(files)
    return {mod: imports_of(ast.parse(path.read_text(), str(path)), mod,
                            path.name == "__init__.py", known)
            for mod, path in files.items()}


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def sibling_graphs(graph: Mapping[str, Iterable[str]]) -> dict[str, dict[str, set[str]]]:
    """Per package: its children (subpackage or module) -> the siblings they import."""
    out: dict[str, dict[str, set[str]]] = {}
    for src, targets in graph.items():
        for dst in targets:
            a, b = src.split("."), dst.split(".")
            common = 0
            while common < min(len(a), len(b)) - 1 and a[common] == b[common]:
                common += 1
            if common == 0 or common >= len(a) or common >= len(b) or a[common] == b[common]:
                continue  # different top-level packages, or one contains the other
            parent = ".".join(a[:common])
            out.setdefault(parent, {}).setdefault(a[common], set()).add(b[common])
    return out


def _within(graph: Mapping[str, set[str]], pkg: str) -> dict[str, set[str]]:
    return {m: {t for t in ts if t.split(".")[0] == pkg}
            for m, ts in graph.items() if m.split(".")[0] == pkg}


GRAPH = build_graph()


@pytest.mark.parametrize("pkg", top_packages())
def test_no_module_cycle(pkg: str) -> None:
    assert find_cycle(_within(GRAPH, pkg)) is None


@pytest.mark.parametrize("pkg", top_packages())
def test_no_cycle_between_siblings(pkg: str) -> None:
    for parent, siblings in sibling_graphs(_within(GRAPH, pkg)).items():
        assert find_cycle(siblings) is None, f"in {parent}"


def test_no_cycle_between_top_level_packages() -> None:
    tops: dict[str, set[str]] = {}
    for src, targets in GRAPH.items():
        tops.setdefault(src.split(".")[0], set()).update(
            t.split(".")[0] for t in targets if t.split(".")[0] != src.split(".")[0])
    assert find_cycle(tops) is None


def _imported_packages(pkg: str) -> set[str]:
    return {t.split(".")[0] for m, ts in GRAPH.items() if m.split(".")[0] == pkg
            for t in ts} - {pkg}


def test_gateway_and_cloud_never_import_each_other() -> None:
    assert "cloud" not in _imported_packages("gateway")
    assert "gateway" not in _imported_packages("cloud")


def test_simulators_import_only_the_contracts() -> None:
    if "simulators" not in top_packages():
        pytest.skip("no simulators package")
    assert _imported_packages("simulators") <= {"firmware_protocol", "ingest_protocol"}


def test_firmware_protocol_imports_nothing_of_ours() -> None:
    assert _imported_packages("firmware_protocol") == set()


# The checks themselves, on small synthetic inputs: each can fail.

def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_sibling_graph_folds_subpackages() -> None:
    graph = {"p.x.one": {"p.y.two"}, "p.y.two": {"p.y.three"}, "p.y.three": {"p.x"}}
    siblings = sibling_graphs(graph)
    assert siblings["p"] == {"x": {"y"}, "y": {"x"}}
    assert find_cycle(siblings["p"]) is not None


def test_local_and_relative_imports_count(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n    return g\n")
    (pkg / "b.py").write_text("from . import a\n\ndef g():\n    return a\n")
    graph = build_graph(tmp_path)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
