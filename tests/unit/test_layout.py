"""The layering rules of DESIGN.md, checked on the source: views import no torch, the library
imports no streamlit, no module reaches into another module's private names, files stay short."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = sorted((ROOT / "playground").rglob("*.py"))
VIEWS = sorted((ROOT / "views").glob("*.py"))
UI = sorted((ROOT / "ui").glob("*.py"))
OURS = ("playground", "ui", "views")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", VIEWS, ids=_rel)
def test_views_import_no_torch(path):
    bad = {m for m in _imported_modules(_tree(path)) if m == "torch" or m.startswith("torch.")
           or m == "torchvision" or m.startswith("torchvision.")}
    assert not bad, f"{_rel(path)} imports {sorted(bad)}: views call the library instead"


@pytest.mark.parametrize("path", LIBRARY, ids=_rel)
def test_library_imports_no_streamlit(path):
    bad = {m for m in _imported_modules(_tree(path)) if m.split(".")[0] == "streamlit"}
    assert not bad, f"{_rel(path)} imports streamlit"


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to our own modules: `from playground import networks as nw` -> nw."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] in OURS):
            for a in node.names:
                out[a.asname or a.name] = a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in OURS:
                    out[a.asname or a.name.split(".")[0]] = a.name
    return out


def _private_reaches(path: Path) -> list[str]:
    tree = _tree(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] in OURS):
            found += [f"from {node.module or '.'} import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
    aliases = _module_aliases(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", LIBRARY + VIEWS + UI, ids=_rel)
def test_no_private_names_across_modules(path):
    assert _private_reaches(path) == []


@pytest.mark.parametrize("path", LIBRARY + VIEWS + UI, ids=_rel)
def test_files_stay_readable(path):
    """A rule of thumb from the design: files under ~400 lines (a little slack for docstrings)."""
    assert len(path.read_text().splitlines()) <= 450
