"""A job that loads no model starts in about a second: its script imports neither torch nor transformers (about
8 s of CPU per job on 2 cores, paid by 30-odd jobs of the embedded run and of every workflow test). Likewise each
parse of the Snakefile (every ``snakemake`` call, dry runs included, and every SLURM job)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

HEAVY = ("torch", "transformers")
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


@pytest.mark.parametrize("script", model_free_scripts())
def test_a_model_free_job_imports_no_torch_or_transformers(script):
    assert heavy_imports(imported_modules(script)) == [], f"{script}: see python -X importtime for who imports it"


@pytest.mark.parametrize("config", ["config.yaml", "config/paper.yaml"])
def test_parsing_the_workflow_imports_no_torch_or_transformers(config, tmp_path):
    """A real parse (``snakemake --list-rules``: the Snakefile, its includes, ``check_schema`` and ``check_config``),
    with ``python -X importtime`` listing every module it imported."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", "--list-rules", "--configfile", str(ROOT / config),
         "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert {"lvlm_debias.config", "lvlm_debias.outputs", "lvlm_debias.embedded.tiny_llava"} <= imported
    assert not set(HEAVY) & imported


def test_the_decoding_method_registry_is_light():
    """The registry (read by the report, the method tables and the official reading) imports each method's
    descriptor only; a method's model code (``decoding.processors``, ``decoding.opera``) is imported in its hooks."""
    assert heavy_imports(["lvlm_debias.decoding.methods", "lvlm_debias.decoding.decode"]) == []


def test_the_check_sees_torch():
    assert heavy_imports(["lvlm_debias.scoring.cache"]) == ["torch", "transformers"]
    assert heavy_imports(["lvlm_debias.decoding.processors"]) == ["torch", "transformers"]
