"""The package's architecture, checked from its import graph.

Data flows one way: workloads -> mm (through sim) -> recorder -> Result ->
analysis -> face.  These tests read every module's imports (module level and
inside functions) and fail on an edge against that direction, on an import
cycle outside ``mm/`` (whose cycles mirror the kernel's single namespace), on
an import inside a function that no comment explains, and on a function
outside ``mm/`` longer than the kernel mirrors' rule allows.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "defragsim"

#: layer of each module (by dotted-name prefix, longest first)
LAYERS = {
    "defragsim.constants": "base", "defragsim.gfp": "base", "defragsim.config": "base",
    "defragsim.errors": "base", "defragsim._jit": "base", "defragsim.provenance": "base",
    "defragsim.kernels": "base", "defragsim.outdir": "base",
    "defragsim.mm": "mm", "defragsim.workloads": "workloads", "defragsim.sim": "sim",
    "defragsim.analysis": "analysis",
    "defragsim.plot": "face", "defragsim.widgets": "face", "defragsim.cli": "face",
    "defragsim.capture": "face", "defragsim.__main__": "face",
    "defragsim": "api",
}

#: what each layer may import (besides itself)
ALLOWED = {
    "base": {"base"},
    "mm": {"base"},
    "workloads": {"base"},
    "sim": {"base", "mm", "workloads"},
    "analysis": {"base", "workloads", "sim"},
    "face": {"base", "mm", "workloads", "sim", "analysis", "face", "api"},
    "api": {"base", "workloads", "sim"},
}

#: the base modules the kernel mirror may use
MM_BASE = {"defragsim.constants", "defragsim.gfp", "defragsim._jit"}

MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


MODULES = _modules()


def layer_of(mod: str) -> str:
    best = max((k for k in LAYERS if mod == k or mod.startswith(k + ".")), key=len)
    return LAYERS[best]


def _resolve(mod: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Modules of the package that ``node`` imports (relative imports resolved)."""
    if node.level:
        pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        base = pkg[:len(pkg) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("defragsim"):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if sub in MODULES else target)
    return out


def import_edges() -> list[tuple[str, str, int, bool, bool]]:
    """(importer, imported, line, inside a function, explained by a comment)."""
    edges = []
    for mod, path in MODULES.items():
        src = path.read_text()
        lines = src.splitlines()
        tree = ast.parse(src)
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inner = {id(n) for f in funcs for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(mod, path, node)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("defragsim")]
            else:
                continue
            in_fn = id(node) in inner
            ln = node.lineno
            explained = "#" in lines[ln - 1] or lines[ln - 2].strip().startswith("#") \
                or "#" in lines[node.end_lineno - 1]
            for t in targets:
                edges.append((mod, t, ln, in_fn, explained))
            if not targets and in_fn:
                edges.append((mod, "", ln, in_fn, explained))
    return edges


EDGES = import_edges()


def test_every_module_has_a_layer():
    for mod in MODULES:
        assert layer_of(mod), mod


def test_layers_import_only_downwards():
    bad = []
    for a, b, ln, _, _ in EDGES:
        if not b or a == b:
            continue
        la, lb = layer_of(a), layer_of(b)
        if la == lb:
            continue
        if lb not in ALLOWED[la]:
            bad.append(f"{a}:{ln} imports {b} ({la} -> {lb})")
    assert not bad, "\n".join(bad)


def test_mm_imports_only_constants_gfp_jit_and_itself():
    bad = [f"{a}:{ln} imports {b}" for a, b, ln, _, _ in EDGES
           if b and layer_of(a) == "mm" and layer_of(b) != "mm" and b not in MM_BASE]
    assert not bad, "\n".join(bad)


def test_nothing_outside_the_face_imports_the_face():
    bad = [f"{a}:{ln} imports {b}" for a, b, ln, _, _ in EDGES
           if b and layer_of(b) == "face" and layer_of(a) != "face"]
    assert not bad, "\n".join(bad)


def test_workloads_import_nothing_of_the_simulator_or_analysis():
    bad = [f"{a}:{ln} imports {b}" for a, b, ln, _, _ in EDGES
           if b and layer_of(a) == "workloads" and layer_of(b) in ("mm", "sim", "analysis", "face")]
    assert not bad, "\n".join(bad)


def _cycles(nodes: set[str]) -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one module."""
    graph = {m: set() for m in nodes}
    for a, b, _, _, _ in EDGES:
        if a in graph and b in graph and a != b:
            graph[a].add(b)
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_outside_mm():
    outside = {m for m in MODULES if layer_of(m) != "mm"}
    assert _cycles(outside) == []


def test_the_cycle_detector_finds_a_cycle():
    # the kernel mirror's modules import each other (as mm/*.c share one namespace)
    mm = {m for m in MODULES if layer_of(m) == "mm"}
    assert any("defragsim.mm.page_alloc" in c for c in _cycles(mm))


def test_imports_inside_functions_say_why():
    bad = [f"{a}:{ln}" for a, _, ln, in_fn, explained in EDGES if in_fn and not explained]
    assert not bad, "imports inside functions without a comment saying why:\n" + "\n".join(bad)


def _long_functions():
    out = []
    for mod, path in MODULES.items():
        if layer_of(mod) == "mm":
            continue          # the kernel mirrors are as long as the kernel's functions
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = n.end_lineno - n.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{mod}.{n.name}: {length} lines")
    return out


def test_no_long_function_outside_mm():
    assert _long_functions() == []


@pytest.mark.parametrize("nb", ["02-reclaim-storm.ipynb", "03-defrag-mode.ipynb"])
def test_story_notebooks_define_no_functions(nb):
    cells = json.loads((ROOT / "notebooks" / nb).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    tree = ast.parse("\n".join(line for line in code.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda, ast.ClassDef))]
    assert not defs, f"{nb}: {len(defs)} function/lambda/class definitions"
