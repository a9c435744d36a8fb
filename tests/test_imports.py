"""A job that loads no model starts in about a second: its script imports neither torch nor transformers (about
8 s of CPU per job on 2 cores, paid by 30-odd jobs of the embedded run and of every workflow test)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from conftest import ROOT

HEAVY = ("torch", "transformers")
#: model-free scripts that still import torch, and why: they read the decoding-method registry
#: (``decoding.methods``), whose methods' modules import torch, transformers, the probes and the families at the top
#: (the official reading's CONTRASTS, the method table's contrasts, the generation tables' method order)
STILL_HEAVY = {
    "baselines.py": "the method table's first-token contrasts (decoding.methods.stored_contrasts)",
    "chair.py": "analysis.generation's method order (decoding.methods, decoding.decode)",
    "contrastive_classification.py": "analysis.generation's method order (decoding.methods, decoding.decode)",
    "decoding_summary.py": "analysis.generation's method order (decoding.methods, decoding.decode)",
    "contrast_grid.py": "scoring.official.CONTRASTS and analysis.sweep (the decoding sweep's model code)",
    "open_ended.py": "analysis.generation's method order (decoding.methods, decoding.decode)",
    "reading_table.py": "scoring.official.CONTRASTS (decoding.methods.stored_contrasts)",
    "report.py": "analysis.baselines and analysis.generation (decoding.methods)",
    "study_report.py": "report.render (as report.py)",
}
#: a rule's block: its name, up to the next rule
RULE = re.compile(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", re.M | re.S)


def model_free_scripts() -> list[str]:
    """The scripts of the rules that ask for no model resources (``**MODEL_RESOURCES``, common.smk)."""
    scripts = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for _, body in RULE.findall(smk.read_text()):
            script = re.search(r'script:\s*\n\s*"([^"]+)"', body)
            if script and "**MODEL_RESOURCES" not in body:
                scripts.append(script.group(1).removeprefix("../").removeprefix("scripts/"))
    return sorted(set(scripts))


def imported_modules(script: str) -> list[str]:
    """The modules ``script`` imports at its top level (its own code needs Snakemake's ``snakemake`` object)."""
    tree = ast.parse((ROOT / "workflow" / "scripts" / script).read_text())
    out = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


def heavy_imports(modules: list[str]) -> list[str]:
    """Which of torch and transformers a fresh interpreter holds after importing ``modules``."""
    code = "\n".join(
        ["import sys", *(f"import {m}" for m in modules), f"print([m for m in {HEAVY!r} if m in sys.modules])"]
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(run.stdout.strip().splitlines()[-1])


def test_the_rules_name_model_free_scripts():
    scripts = model_free_scripts()
    assert {"calibration_table.py", "report.py", "label_probs.py"} <= set(scripts)
    assert "first_token_shard.py" not in scripts and "train_shapes_llava.py" not in scripts


@pytest.mark.parametrize("script", [s for s in model_free_scripts() if s not in STILL_HEAVY])
def test_a_model_free_job_imports_no_torch_or_transformers(script):
    assert heavy_imports(imported_modules(script)) == [], f"{script}: see python -X importtime for who imports it"


@pytest.mark.parametrize("script", sorted(STILL_HEAVY))
def test_the_list_of_still_heavy_scripts_is_current(script):
    """A script made light leaves STILL_HEAVY (and joins the test above)."""
    assert script in model_free_scripts()
    assert heavy_imports(imported_modules(script)), f"{script} imports no torch now: remove it from STILL_HEAVY"


def test_the_check_sees_torch():
    assert heavy_imports(["lvlm_debias.scoring.cache"]) == ["torch", "transformers"]
