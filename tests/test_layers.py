"""The library's layering: no module imports from a layer above its own, and no workflow script loads a model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lvlm_debias"

#: the library's layers, lowest first (a module may import from its own layer and the ones before it).
LAYERS = [
    {"atomic", "settings", "runlog"},
    {"tables"},
    {"metrics"},
    {"calibration"},
    {"data"},
    {"world"},
    {"models"},
    {"inputs"},
    {"decoding"},
    {"scoring"},
    {"benchmarks"},
    {"embedded"},
    {"config"},
    {"outputs"},
    {"analysis"},
    {"plots"},
    {"report"},
    {"performance"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def top_level(module: str) -> str:
    """``lvlm_debias.scoring.score`` -> ``scoring``."""
    return module.split(".")[1]


def library_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of an ``lvlm_debias`` module in ``path``, function-level ones included;
    relative imports are resolved against the file's package."""
    package = ["lvlm_debias", *path.relative_to(PACKAGE).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
                if node.module == "lvlm_debias":
                    names = [f"lvlm_debias.{a.name}" for a in node.names]
            out += [(node.lineno, n) for n in names if n.startswith("lvlm_debias.")]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("lvlm_debias.")]
    return out


def own_layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer():
    unplaced = sorted({own_layer(p) for p in MODULES} - set(LAYER))
    assert not unplaced, f"put {unplaced} in a layer of tests/test_layers.py:LAYERS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_from_a_higher_layer(path):
    mine = LAYER[own_layer(path)]
    upward = [
        f"line {line}: {module} (layer {top_level(module)})"
        for line, module in library_imports(path)
        if LAYER.get(top_level(module), -1) > mine
    ]
    assert not upward, f"{path.relative_to(ROOT)} (layer {own_layer(path)}) imports upward: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The walk above finds a function-level, a relative and an absolute upward import (so it can fail)."""
    fake = PACKAGE / "data" / "_probe_layers.py"
    source = (
        "from lvlm_debias.report import html\nfrom ..scoring import score\n\ndef f():\n    import lvlm_debias.plots\n"
    )
    fake.write_text(source)
    try:
        found = [m for _, m in library_imports(fake) if LAYER[top_level(m)] > LAYER["data"]]
    finally:
        fake.unlink()
    assert found == ["lvlm_debias.report", "lvlm_debias.scoring", "lvlm_debias.plots"]


#: what loading a model looks like; a script calls one library ``*_with_entry`` function instead.
MODEL_LOADING = re.compile(r"\b(load_entry|from_pretrained|load_model)\b")


@pytest.mark.parametrize("script", sorted((ROOT / "workflow" / "scripts").glob("*.py")), ids=lambda p: p.name)
def test_no_script_loads_a_model_itself(script):
    found = MODEL_LOADING.findall(script.read_text())
    assert not found, f"{script.name} loads a model ({found}): call a library *_with_entry function instead"
