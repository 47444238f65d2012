"""The rules of docs/architecture.md, checked from the source (nothing of rig is imported, no process is started).

* no import cycles among rig's modules (module-level and function-level imports; ``if TYPE_CHECKING:`` ones are
  left out, they never run);
* only rig/dut/ and rig/sim/ know which kind of DUT they have;
* no file names a path outside the repository or an issue / work-item number: the repository stands alone, and
  cites public sources (standard and clause, specification section, manual title);
* ``chip`` is imported only in rig/matter/, and pyvisa, pymodbus and python-can only by their transport modules.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RIG = ROOT / "rig"


# -- reading rig's imports ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    """One import statement of a rig module, resolved to absolute module names."""

    module: str
    """The importing module, e.g. ``rig.sim.modbus``."""
    path: Path
    line: int
    targets: tuple[str, ...]
    """What Python imports when the statement runs, in order: ``from a.b import c`` gives ``a.b`` and, when ``c`` is
    a submodule, ``a.b.c``."""
    type_only: bool
    """Under ``if TYPE_CHECKING:`` (never executed)."""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    """``rig/sim/modbus.py`` → ``rig.sim.modbus``; ``rig/sim/__init__.py`` → ``rig.sim``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def rig_modules() -> dict[str, Path]:
    """Every module under rig/ by name."""
    return {module_name(p): p for p in sorted(RIG.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement below ``node`` (in functions too), with whether it is under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk_stmt(stmt, True)
            for stmt in child.orelse:
                yield from _walk_stmt(stmt, type_only)
        else:
            yield from _walk(child, type_only)


def _walk_stmt(stmt: ast.stmt, type_only: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        yield stmt, type_only
    else:
        yield from _walk(stmt, type_only)


def _base_of(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against the importer's package)."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, node.module] if node.module else package)


def parse_imports(source: str, module: str, path: Path) -> tuple[Import, ...]:
    """The import statements of ``source``, the text of rig module ``module`` at ``path``."""
    found = []
    for node, type_only in _walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            targets = tuple(alias.name for alias in node.names)
        else:
            base = _base_of(module, path, node)
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in rig_modules()]
            targets = (base, *submodules)
        found.append(Import(module, path, node.lineno, targets, type_only))
    return tuple(found)


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """The import statements of one rig module."""
    path = rig_modules()[module]
    return parse_imports(path.read_text(encoding="utf-8"), module, path)


def _packages(name: str) -> list[str]:
    """``rig.sim.modbus`` → ``["rig", "rig.sim"]``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@cache
def import_graph() -> dict[str, dict[str, Import]]:
    """module → {imported rig module: the first statement importing it}, for the imports that run.

    Importing ``rig.a.b`` also runs the ``__init__`` of package ``rig.a``; that counts as an import of ``rig.a``
    unless ``rig.a`` is a package of the importer itself (then it is already being imported).
    """
    graph: dict[str, dict[str, Import]] = {}
    for module in rig_modules():
        edges: dict[str, Import] = {}
        own_packages = {*_packages(module), module}
        for imp in imports_of(module):
            if imp.type_only:
                continue
            for target in imp.targets:
                for name in [*_packages(target), target]:
                    if name in rig_modules() and name not in own_packages:
                        edges.setdefault(name, imp)
        graph[module] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan, iterative), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
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
                if len(component) > 1 or node in graph[node]:
                    components.append(sorted(component))
    return sorted(components, key=lambda c: (-len(c), c))


def shortest_cycle(graph: dict[str, dict[str, Import]], start: str, within: set[str]) -> list[str]:
    """The shortest import path from ``start`` back to itself inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in within:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return []


def describe_cycles(graph: dict[str, dict[str, Import]]) -> list[str]:
    """Each distinct cycle (the shortest one through every member of every cyclic component), with its imports."""
    lines = []
    for component in strongly_connected(graph):
        seen: set[tuple[str, ...]] = set()
        for member in component:
            cycle = shortest_cycle(graph, member, set(component))
            body = cycle[:-1]
            turn = body.index(min(body))
            key = tuple(body[turn:] + body[:turn])
            if key in seen:
                continue
            seen.add(key)
            steps = [f"{a} ({graph[a][b].where})" for a, b in itertools.pairwise(cycle)]
            lines.append(" -> ".join([*steps, cycle[-1]]))
    return lines


# -- (a) no import cycles -------------------------------------------------------------------------------------------
def test_no_import_cycles_among_rig_modules() -> None:
    cycles = describe_cycles(import_graph())
    assert not cycles, "import cycles among rig's modules (module (file:line of the import) -> ...):\n" + "\n".join(
        cycles
    )


def test_the_graph_reader_resolves_submodules_relative_imports_and_type_checking() -> None:
    """The reader itself: ``from pkg import submodule`` is an import of the submodule, relative imports resolve,
    function-level imports count and ``if TYPE_CHECKING:`` imports do not."""
    module = "rig.sim.virtual_bench"
    path = rig_modules()[module]
    source = (
        "from typing import TYPE_CHECKING\n"
        "from rig.sim import plant\n"
        "from . import scpi\n"
        "from .daq import RelayBank\n"
        "if TYPE_CHECKING:\n"
        "    from rig.sim.evse_link import EvseLink\n"
        "def f():\n"
        "    import rig.instruments.registry\n"
    )
    found = [(imp.targets, imp.type_only) for imp in parse_imports(source, module, path)]
    assert found == [
        (("typing",), False),
        (("rig.sim", "rig.sim.plant"), False),
        (("rig.sim", "rig.sim.scpi"), False),
        (("rig.sim.daq",), False),
        (("rig.sim.evse_link",), True),
        (("rig.instruments.registry",), False),
    ]
    graph = {
        "a": {"b": Import("a", ROOT / "a.py", 1, ("b",), False)},
        "b": {"c": Import("b", ROOT / "b.py", 2, ("c",), False)},
        "c": {"a": Import("c", ROOT / "c.py", 3, ("a",), False)},
        "d": {"a": Import("d", ROOT / "d.py", 4, ("a",), False)},
    }
    assert describe_cycles(graph) == ["a (a.py:1) -> b (b.py:2) -> c (c.py:3) -> a"]


# -- (b) only rig/dut/ and rig/sim/ know the kind of DUT ------------------------------------------------------------
DUT_KIND = re.compile(r"is_virtual|kind == .virtual.")
KNOWS_THE_KIND = ("rig/dut/", "rig/sim/")


def text_files(*roots: Path) -> Iterator[Path]:
    """Text files under ``roots`` (folders or files), leaving out caches, node_modules and binary files."""
    for root in roots:
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            rel = path.relative_to(ROOT).parts
            if "node_modules" in rel or "__pycache__" in rel or path.suffix in (".pyc", ".png", ".der", ".zip"):
                continue
            yield path


def grep(pattern: re.Pattern[str], paths: Iterator[Path]) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, line) of every line matching ``pattern``."""
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                yield path, number, line.strip()


def test_only_dut_and_sim_know_the_kind_of_dut() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path, number, line in grep(DUT_KIND, text_files(RIG))
        if not path.relative_to(ROOT).as_posix().startswith(KNOWS_THE_KIND)
    ]
    assert not hits, "the kind of DUT is tested outside rig/dut/ and rig/sim/:\n" + "\n".join(hits)


# -- (c) the repository stands alone --------------------------------------------------------------------------------
OUTSIDE_PATH = re.compile(
    r"/wor[k]/|\.\./share[d]|shared/referenc[e]|hil-domai[n]|eevse-conformanc[e]|matter-on-one-machin[e]|matter-real-du[t]"
)
"""A path or document outside the repository (the patterns are written so that this file does not match itself)."""
WORK_ITEM = re.compile(r"\bissue\s*#|\bissue\s+\d|\btrap\s+\d|(?<![\w&#])#1[0-9]\b", re.IGNORECASE)
"""An issue or work-item number: issue (or trap) and a number, issue and a hash sign, a hash sign and 10..19."""
SCANNED = ("rig", "suites", "tests", "benchmarks", "docs", "examples", "scripts", "virtual_evse", ".ci")
SCANNED_FILES = ("README.md", "Makefile", "conftest.py", "rig.yaml", "pyproject.toml")


def test_no_file_names_a_path_outside_the_repository_or_a_work_item() -> None:
    roots = [ROOT / d for d in SCANNED if (ROOT / d).exists()] + [ROOT / f for f in SCANNED_FILES]
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line[:160]}"
        for pattern in (OUTSIDE_PATH, WORK_ITEM)
        for path, number, line in grep(pattern, text_files(*roots))
    ]
    assert not hits, (
        "files naming a path outside the repository or an issue number (cite the public source instead):\n"
        + "\n".join(hits)
    )


# -- (d) third-party protocol libraries are imported by one module each --------------------------------------------
ALLOWED_IMPORTERS = {
    "chip": ("rig/matter/",),
    "pyvisa": ("rig/instruments/visa_transport.py",),
    "pymodbus": ("rig/instruments/modbus_transport.py", "rig/sim/modbus.py", "rig/sim/relays.py", "rig/sim/labjack.py"),
    "can": ("rig/instruments/can_transport.py", "rig/sim/can_board.py"),
}


@pytest.mark.parametrize("library", sorted(ALLOWED_IMPORTERS))
def test_protocol_libraries_are_imported_only_by_their_modules(library: str) -> None:
    allowed = ALLOWED_IMPORTERS[library]
    hits = [
        f"{imp.where}: imports {target}" + (" (under TYPE_CHECKING)" if imp.type_only else "")
        for module in rig_modules()
        for imp in imports_of(module)
        for target in imp.targets
        if target.split(".")[0] == library and not imp.path.relative_to(ROOT).as_posix().startswith(allowed)
    ]
    assert not hits, f"{library} imported outside {', '.join(allowed)}:\n" + "\n".join(hits)
