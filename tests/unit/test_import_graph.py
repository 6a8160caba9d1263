"""The packages of callcenter import each other without a cycle (issue 12: calls -> ivr -> triage -> calls was
one, hidden by an import inside a function), and each one imports on its own in a fresh interpreter.

The graph is read from the source: every import, also inside a function (that is how cycles hide), except
those under `if TYPE_CHECKING:` (never run). A node is a package (`callcenter.calls`) or a top-level module
(`callcenter.phones`)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "callcenter"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The package or top-level module a module belongs to: callcenter.calls.state -> callcenter.calls."""
    return ".".join(module.split(".")[:2])


def imported(path: Path, root: Path = ROOT) -> set[str]:
    """The callcenter modules (or names in them) that `path` imports, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
               ast.unparse(node.test) for n in ast.walk(node)}
    here = module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name == "callcenter" or name.startswith("callcenter.")}


def unit_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {unit(t) for t in imported(path) if t in modules and t != "callcenter"}
        graph.setdefault(unit(name), set()).update(targets - {unit(name)})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            if (cycle := visit(target, path + [node])) is not None:
                return cycle
        done.add(node)
        return None

    return next((cycle for node in sorted(graph) if (cycle := visit(node, [])) is not None), None)


def test_given_a_graph_with_a_cycle_hidden_in_a_function_when_searched_then_found(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    source = tmp_path / "callcenter" / "ivr" / "engine.py"
    source.parent.mkdir(parents=True)
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..calls import state\n"
                      "def questionnaire():\n    from ..triage.services import TriageSession\n")
    assert imported(source, tmp_path) == {"callcenter.triage.services",
                                          "callcenter.triage.services.TriageSession"}


def test_given_the_callcenter_packages_when_their_imports_are_read_then_no_package_imports_itself_back():
    graph = unit_graph()
    assert {"callcenter.calls", "callcenter.ivr", "callcenter.triage"} <= set(graph), "the graph was read"

    assert find_cycle(graph) is None


@pytest.mark.parametrize("package", ["callcenter.ivr", "callcenter.triage", "callcenter.calls",
                                     "callcenter.campaigns"])
def test_given_a_fresh_interpreter_when_a_package_is_imported_first_then_all_its_modules_import(package):
    modules = sorted(module_name(p) for p in (ROOT / package.replace(".", "/")).rglob("*.py"))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"

    done = subprocess.run([sys.executable, "-c", code, *modules], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)

    assert done.returncode == 0, done.stderr


def reaches_into_another_package(path: Path, root: Path = ROOT) -> list[str]:
    """What `path` takes from another package that is not public: a `_name` imported from it, or a private
    attribute of the router (`router._calls`...), whose dictionaries only calls/stasis.py writes."""
    tree, here = ast.parse(path.read_text(encoding="utf-8")), module_name(path, root)
    package = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found += [f"{here}: from {base} import {alias.name}" for alias in node.names
                      if alias.name.startswith("_") and unit(base) != unit(here)]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in ("router", "_router") and here != "callcenter.calls.stasis":
                found.append(f"{here}: {ast.unparse(node)}")
    return found


def test_given_the_callcenter_packages_when_read_then_none_takes_a_private_name_or_reaches_into_the_router(
        tmp_path):
    source = tmp_path / "callcenter" / "supervision" / "services.py"
    source.parent.mkdir(parents=True)
    source.write_text("from ..ari.client import _quietly\n\ndef watch(self, call):\n"
                      "    self._router._by_channel['x'] = call\n")
    assert len(reaches_into_another_package(source, tmp_path)) == 2, "the check finds both"

    found = [line for path in PACKAGE.rglob("*.py") for line in reaches_into_another_package(path)]

    assert found == []
