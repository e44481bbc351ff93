"""The package's imports go one way, and the tools are thin.

Layers, lowest first (a module may import its own sub-package and any lower layer, nothing else):

    0  _util _version _safe_pickle _safe_files        helpers, no imports from the package
    1  registry layers runtime                        the registry, building blocks, CPU set-up
    2  config weights                                 config rules and safe weight files
    3  models data                                    the model core and the data pipeline
    4  analysis                                       summaries, statistics, figures (no training)
       metrics                                        FID / KID / IS on the FID network
    5  engine deploy convert ppcls                    what is built on models and data
    6  cli                                            argument parsing, printing, process set-up
    7  the root __init__/__main__ (nothing in the package imports them)

Every import counts, also those inside functions (they are how cycles hide).
"""

import ast
import os
import re

import pytest
from conftest import ROOT

PKG = "paddle_inception"
PKG_DIR = os.path.join(ROOT, PKG)
RANKS = {
    "_util": 0,
    "_version": 0,
    "_safe_pickle": 0,
    "_safe_files": 0,
    "registry": 1,
    "layers": 1,
    "runtime": 1,
    "config": 2,
    "weights": 2,
    "models": 3,
    "data": 3,
    "analysis": 4,
    "metrics": 4,
    "engine": 5,
    "deploy": 5,
    "convert": 5,
    "ppcls": 5,
    "cli": 6,
    "__init__": 7,
    "__main__": 7,
}


def _modules() -> dict:
    """{dotted module name: file path} for every .py file of the package."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(PKG_DIR):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__"))]
        for f in filenames:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(dirpath, f)
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, "").endswith("__init__.py")


def _imports(name: str) -> list:
    """(line, target module) for every import of the package in module `name`."""
    tree = ast.parse(open(MODULES[name], encoding="utf-8").read())
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if a.name == PKG or a.name.startswith(PKG + ".")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not (target == PKG or target.startswith(PKG + ".")):
                continue
            for alias in node.names:  # `from .x import y` where y is a module itself
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def test_every_module_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(RANKS), (
        f"modules without a layer in this test: {sorted({_unit(m) for m in MODULES} - set(RANKS))}"
    )


def _upward(module: str) -> list:
    """The imports of `module` that break the layering, as messages."""
    unit, bad = _unit(module), []
    for line, target in _imports(module):
        t_unit = _unit(target)
        if t_unit == unit and unit != "__init__":
            continue  # inside one sub-package
        if RANKS[t_unit] >= RANKS[unit]:
            bad.append(
                f"{MODULES[module]}:{line}: {module} (layer {RANKS[unit]}) imports "
                f"{target} (layer {RANKS[t_unit]})"
            )
    return bad


def test_imports_go_one_way():
    bad = [msg for module in MODULES for msg in _upward(module)]
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: sorted({t for _, t in _imports(m) if t in MODULES and t != m}) for m in MODULES}
    # Tarjan's strongly connected components: any component of 2+ modules is a cycle
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"


def test_the_layering_check_can_fail(tmp_path, monkeypatch):
    """The walker sees function-local and relative imports (how the old export <-> infer
    cycle hid), so `test_imports_go_one_way` is not vacuous."""
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from .base import InceptionModel\ndef f():\n    from ..cli.common import ToolError\n"
    )
    monkeypatch.setitem(MODULES, f"{PKG}.models.fake", str(fake))
    assert [t for _, t in _imports(f"{PKG}.models.fake")] == [
        f"{PKG}.models.base",
        f"{PKG}.cli.common",
    ]
    bad = _upward(f"{PKG}.models.fake")
    assert len(bad) == 1 and "imports paddle_inception.cli.common (layer 6)" in bad[0]


@pytest.mark.parametrize(
    "tool", sorted(f for f in os.listdir(os.path.join(ROOT, "tools")) if f.endswith(".py"))
)
def test_tools_are_thin_wrappers(tool):
    """tools/*.py only call a `main`: no logic, and no sys.path edits (the package is
    installed, as the README's set-up does)."""
    text = open(os.path.join(ROOT, "tools", tool), encoding="utf-8").read()
    tree = ast.parse(text)
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    statements = [n for top in body for n in ast.walk(top) if isinstance(n, ast.stmt)]
    assert not re.search(r"sys\.path", text), f"tools/{tool} edits sys.path"
    assert len(statements) <= 5, (
        f"tools/{tool} holds logic ({len(statements)} statements); move it into the package"
    )
