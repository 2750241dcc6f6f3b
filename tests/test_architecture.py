"""Dependencies between the top-level packages run one way (docs/architecture.md).

``lineinspect/`` (contract, config, shared pieces) is at the bottom; ``edge/`` and ``cloud/`` stand
on it and never import each other; ``models/`` stands on ``edge/`` (it scores and calibrates with
the runtime that ships); ``bench/`` may use any product package; only ``tests/`` may import
``tests/``. The composition roots that start every role are the one exception. Every import
counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("lineinspect", "edge", "cloud", "models", "bench", "tests")

# What each package may not import (by top-level name).
FORBIDDEN: dict[str, frozenset[str]] = {
    "lineinspect": frozenset({"edge", "cloud", "models", "bench", "tests"}),
    "edge": frozenset({"cloud", "models", "bench", "tests"}),
    "cloud": frozenset({"edge", "models", "bench", "tests"}),
    "models": frozenset({"cloud", "bench", "tests"}),
    "bench": frozenset({"tests"}),
    "tests": frozenset(),
}
# Modules that compose every role; they alone may know all of them.
COMPOSITION_ROOTS = frozenset({"lineinspect.cli", "lineinspect.demo", "lineinspect.config_cli"})
# Inside the edge, the stages that run before publishing know nothing of how it is published.
FORBIDDEN_INSIDE: dict[str, frozenset[str]] = {
    "edge.detect": frozenset({"edge.track", "edge.publish", "edge.stream", "edge.api"}),
    "edge.track": frozenset({"edge.publish", "edge.stream", "edge.api"}),
    "edge.sources": frozenset({"edge.track", "edge.publish", "edge.stream", "edge.api"}),
    "edge.refine": frozenset({"edge.publish", "edge.stream", "edge.api"}),
}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violation(importer: str, imported: str) -> str | None:
    """Why module ``importer`` may not import ``imported``, or None where it may."""
    if importer in COMPOSITION_ROOTS:
        return None
    top, target_top = importer.split(".")[0], imported.split(".")[0]
    if target_top in FORBIDDEN.get(top, frozenset()):
        return f"{importer} imports {imported}: {top}/ may not depend on {target_top}/"
    for stage, banned in FORBIDDEN_INSIDE.items():
        if within(importer, stage):
            for other in banned:
                if within(imported, other):
                    return f"{importer} imports {imported}: {stage} may not depend on {other}"
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, name: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in module ``name``'s source, at any depth."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            yield node.lineno, target


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    return imports_in(source, module_name(path), path.name == "__init__.py")


def python_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if p.is_file())


# Today's back-edges before the clean-up, and edges that must keep holding: the same rule
# function the tree is checked with judges each, so the rule is seen to catch them.
EDGES = [
    ("edge.sources.synthetic", "models.data.video", False),
    ("edge.sources.synthetic", "lineinspect.render.video", True),
    ("cloud.cli", "edge.logsetup", False),
    ("cloud.collector.settle_process", "edge.logsetup", False),
    ("cloud.cli", "lineinspect.logsetup", True),
    ("edge.track.wire", "edge.publish.settings", False),
    ("edge.track.wire", "edge.track.settings", True),
    ("bench.alarm_latency", "tests.servers", False),
    ("bench.collector_ingest", "tests.servers", False),
    ("bench.collector_ingest", "lineinspect.testing", True),
    ("bench.edge_pipeline", "models.train.offline", True),
    ("models.eval.evaluate", "edge.detect.detector", True),
    ("models.cli", "cloud.store", False),
    ("edge.publish.client", "cloud.collector.mqtt_link", False),
    ("cloud.collector.mqtt_probe", "lineinspect.mqtt", True),
    ("lineinspect.render.video", "models.data", False),
    ("lineinspect.manifest", "edge.detect", False),
    ("lineinspect.demo", "edge.run", True),
    ("lineinspect.cli", "cloud.cli", True),
    ("lineinspect.config_cli", "cloud.settings", True),
    ("tests.test_pipeline", "tests._paho", True),
    ("edge.detect.decode", "edge.track.state", False),
]


@pytest.mark.parametrize(("importer", "imported", "allowed"), EDGES)
def test_rule_judges_each_edge(importer: str, imported: str, allowed: bool) -> None:
    assert (violation(importer, imported) is None) is allowed


SOURCES = [
    ("import edge.logsetup\n", "cloud.cli", False, "edge.logsetup"),
    ("def run():\n    from edge.logsetup import setup_logging\n", "cloud.cli", False,
     "edge.logsetup"),
    ("class A:\n    def f(self):\n        import models.data\n", "edge.x", False, "models.data"),
    ("from ..publish.settings import S\n", "edge.track.wire", False, "edge.publish.settings"),
    ("from . import wire\n", "edge.track", True, "edge.track"),
    ("from .wire import f\n", "edge.track.lifecycle", False, "edge.track.wire"),
]


@pytest.mark.parametrize(("source", "name", "is_package", "expected"), SOURCES)
def test_every_import_is_found_and_resolved(
    source: str, name: str, is_package: bool, expected: str
) -> None:
    assert [target for _line, target in imports_in(source, name, is_package)] == [expected]


def test_no_module_imports_against_the_allowed_directions() -> None:
    files = python_files()
    assert len(files) > 200, "the walk found too few modules; is REPO right?"
    problems = [
        f"{path.relative_to(REPO)}:{line}: {why}"
        for path in files
        for line, imported in imports_of(path)
        if (why := violation(module_name(path), imported)) is not None
    ]
    assert not problems, "\n".join(problems)


def edits_sys_path(source: str) -> list[int]:
    """Lines that change ``sys.path`` (a call on it, an assignment to it, or ``+=``)."""

    def is_sys_path(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "path"
                and isinstance(node.value, ast.Name) and node.value.id == "sys")

    lines = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and is_sys_path(node.func.value)):
            lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines += [node.lineno for t in targets if is_sys_path(t)
                      or (isinstance(t, ast.Subscript) and is_sys_path(t.value))]
    return lines


@pytest.mark.parametrize(("source", "edits"), [
    ("import sys\nsys.path.insert(0, 'x')\n", True),
    ("import sys\nsys.path.append('x')\n", True),
    ("import sys\nsys.path[:0] = ['x']\n", True),
    ("import sys\nsys.path += ['x']\n", True),
    ("import sys\nprint(sys.path[0])\n", False),
    ("import os\nos.path.join('a', 'b')\n", False),
])
def test_sys_path_edits_are_found(source: str, edits: bool) -> None:
    assert bool(edits_sys_path(source)) is edits


def test_no_product_or_bench_module_edits_sys_path() -> None:
    """They import the installed packages; a path edit hides a missing install or a back-edge."""
    problems = [
        f"{path.relative_to(REPO)}:{line}"
        for path in python_files()
        if path.parts[len(REPO.parts)] != "tests"
        for line in edits_sys_path(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "sys.path edited at " + ", ".join(problems)
