"""The paper config in miniature, for a model family's tiny checkpoint: its model and benchmarks swapped for the
checkpoint and a tiny POPE in a local hub cache, run to the report with Snakemake offline, so that scoring,
calibration, the sweep, prior probing, the decoding methods' answers, the method table and attention all go through
the family's path. Each family's test module calls :func:`run_paper_config_in_miniature` once (a slow test)."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from conftest import ROOT
from hub_cache import REVISION, fill_hub_cache, pope_files
from test_downloads import DATASETS, _env

METHODS = ["naive", "vcd", "vdd-both", "opera"]
#: the methods that sample (OPERA, a beam search, is decoded at the first setting only)
SAMPLED = [m for m in METHODS if m != "opera"]


def run_paper_config_in_miniature(
    tmp_path: Path, folder: str | Path, name: str, template: str, dtype: str, attention_probes: list[str]
) -> Path:
    """Run it for the checkpoint in ``folder`` (served as ``org/tiny-<name>``, entry ``name``, ``dtype`` the GPU's:
    float32 here) and check what every family must give; returns the model's results folder."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}
    fill_hub_cache(tmp_path / "hf/hub", "model", f"org/tiny-{name}", files)
    fill_hub_cache(tmp_path / "hf/hub", "dataset", "lmms-lab/POPE", pope_files())
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["models"] = {
        name: {"source": "hub", "repo": f"org/tiny-{name}", "revision": REVISION, "prompt": template, "dtype": dtype,
               "device": "cpu"}
    }  # fmt: skip
    config["datasets"] = {"pope_coco": DATASETS["pope_coco"]}
    config["benchmarks"] = {"pope_coco": {"dataset": "pope_coco", "splits": ["random", "popular"]}}
    config["downloads"] = {"fetch": False}
    config["scoring"] = {"shards": 2, "batch_size": 4, "top_k": 20, "store_top": 20}
    config["calibration"]["min_bin_count"] = 1
    config["sweep"].update(temperatures=[0.5, 1.0], top_ps=[0.9, 1.0], top_ks=[0, 2], max_new_tokens=3)
    config["generation"] = {
        "methods": METHODS, "settings": ["default", "best"], "alpha": 1.0, "beta": 0.1,
        "classification": {"benchmarks": ["pope_coco"], "max_new_tokens": 3},
    }  # fmt: skip
    config["attention"] = {"n_samples": 4, "probes": attention_probes, "max_new_tokens": 3, "batch_size": 2}
    config["report"]["samples"] = 2
    config["report"]["paper_numbers"] = str(ROOT / "config/paper_numbers.yaml")
    config.pop("conda_env")
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml")]  # fmt: skip
    run = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results" / name
    probs = pd.read_csv(results / "pope_coco/random/label_probs.csv")
    assert (
        set(probs["probe"]) >= {"naive", "none", "unk", "noise", "zero", "one", "na"}
        and len(probs["question_id"].unique()) == 6
    )
    for setting, methods in [("default", METHODS), ("best", SAMPLED)]:
        answers = pd.read_csv(results / f"pope_coco/random/contrastive/{setting}.csv")
        assert set(answers["method"]) == set(methods) and set(answers["prediction"]) <= {"yes", "no"}
    table = pd.read_csv(results / "pope_coco/baselines.csv")
    rows = {"contextual", "batch", *(f"{m} [default]" for m in METHODS), *(f"{m} [best]" for m in SAMPLED)}
    assert rows <= set(table["method"]) and "opera [best]" not in set(table["method"])
    attention = pd.read_csv(results / "attention.csv")
    assert attention.groupby(["probe", "layer"])["share"].sum().round(5).eq(1).all()
    assert (tmp_path / "results/report.html").stat().st_size > 10_000
    return results
