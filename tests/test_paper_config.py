"""The paper config plans its whole job graph offline; the workflow lints clean; the conda envs match pyproject."""

import os
import re
import socket
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import ROOT


def _env(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p),
        "HF_HOME": str(tmp_path / "hf"),  # an empty cache: planning must not need one
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": f"http://127.0.0.1:{port}",  # and any request would fail at once
    }


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (rule -> count), from the first table in ``output``."""
    table = output[output.index("Job stats:") :]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


def expected_counts(config: dict) -> dict[str, int]:
    """Jobs the paper config should plan, from its own keys (per model, benchmark, split and shard)."""
    models, benchmarks = config["models"], config["benchmarks"]
    splits = {name: len(b.get("splits", ["one"])) for name, b in benchmarks.items()}
    n_splits = sum(splits.values())
    shards = config["scoring"]["shards"]
    used = {b["dataset"] for b in benchmarks.values()}
    only = [d for d in config["datasets"] if d not in used]
    fetched = {d for d, entry in config["datasets"].items() if entry.get("source") == "url"}
    url_splits = sum(n for name, n in splits.items() if benchmarks[name]["dataset"] in fetched)
    generation = config.get("generation", {})
    classified = generation.get("classification", {}).get("benchmarks", [])
    settings = len(generation.get("settings", []))
    return {
        "contrastive_answers": len(models) * sum(splits[b] for b in classified) * settings,
        "contrastive_classification": len(models) if classified else 0,
        "open_answers": len(models) * settings if generation.get("open_ended") else 0,
        "open_ended": len(models) if generation.get("open_ended") else 0,
        "attention": len(models) if config.get("attention") else 0,
        "hub_model": len(models),
        "hub_dataset": len(config["datasets"]) - len(fetched),
        "hub_questions": n_splits - url_splits + len([d for d in only if d not in fetched]),
        "url_dataset": len(fetched),
        "url_questions": url_splits,
        "first_token_shard": len(models) * len(benchmarks) * shards,  # the logit cache: per source, not per split
        "reference_probs": len(models) * len(benchmarks),
        "label_probs": len(models) * n_splits,
        "calibration_table": len(models) * len(benchmarks),
        "reading_table": len(models) * len([b for b in benchmarks if b != "mmmu"])
        if "official" in config["scoring"].get("readings", [])
        else 0,
        "confidence_bins": len(models) * len(benchmarks),
        "decoding_sweep": len(models) * n_splits,
        "decoding_summary": len(models),
        "prior_probing": len(models),
        "report": 1,
    }


@pytest.mark.slow
def test_paper_config_dry_run_plans_every_job_offline(tmp_path):
    """`snakemake -n --configfile config/paper.yaml` in an empty folder, with an empty HF cache and no network,
    plans every job of the paper. Checked to fail without the feature: before the download rules, the dry run
    planned no hub_model/hub_dataset job and stopped on the missing question files."""
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    output, counts = dry_run(tmp_path, "config/paper.yaml")
    for rule, n in expected_counts(config).items():
        assert counts.get(rule) == n, (rule, counts)
    assert counts["first_token_shard"] == 60  # 3 models x 5 sources (3 POPE, MME, MMMU) x 4 shards
    assert counts["hub_questions"] == 6  # 3 POPE-COCO splits, MME, MMMU, LLaVA-Bench
    assert counts["url_questions"] == 6  # 3 POPE-A-OKVQA and 3 POPE-GQA splits
    assert counts["url_dataset"] == 2 and counts["hub_dataset"] == 4
    assert counts["contrastive_answers"] == 24  # 3 models x (3 POPE-COCO splits + MME) x 2 settings
    assert counts["reading_table"] == 12  # 3 models x (3 POPE sources + MME); MMMU has no official reading
    assert not (tmp_path / "hf").exists() or not any((tmp_path / "hf").rglob("*.safetensors"))
    # every job that loads a checkpoint asks the same of a cluster: 40 GB host memory, a GPU, a CPU per thread
    # (the attention rule once asked a fixed 8 GB and no cpus_per_task, too little to load a 13B model)
    resources = _job_resources(output)
    for rule in ("first_token_shard", "reference_probs", "decoding_sweep", "prior_probing", "attention",
                 "contrastive_answers", "open_answers"):  # fmt: skip
        assert resources[rule] and all(
            r["mem_mb"] == "40000" and r["gpu"] == "1" and "cpus_per_task" in r for r in resources[rule]
        ), (rule, resources[rule][:1])


def dry_run(tmp_path, configfile: str) -> tuple[str, dict[str, int]]:
    """`snakemake -n --configfile <configfile>` (a path in the checkout) in an empty folder under ``tmp_path``, with
    an empty HF cache and no network: its output and the job count per rule (it must succeed)."""
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "run"),
         "--configfile", str(ROOT / configfile)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr, job_counts(run.stdout + run.stderr)


def _job_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources of each of its planned jobs, from a dry run's job listing."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in output.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        line = next((x for x in block.splitlines() if x.strip().startswith("resources:")), "")
        pairs = (item.split("=", 1) for item in line.split(":", 1)[-1].split(", ") if "=" in item)
        out.setdefault(rule, []).append({k.strip(): v.strip() for k, v in pairs})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("configfile", ["config.yaml", "config/paper.yaml"])
def test_snakemake_lint_is_clean(tmp_path, configfile):
    """`snakemake --lint` reports nothing, for the embedded default and the paper config. Checked to fail without
    the fix: before `envvars:` it flagged the PYTHONPATH and HF_HUB_OFFLINE writes of the Snakefile (and a function
    among the download rules)."""
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", configfile],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations, your workflow is in a good condition!" in run.stdout + run.stderr
    assert "Lints for" not in run.stdout + run.stderr


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


#: pyproject names whose conda-forge package has another name, and what the envs may leave out
CONDA_NAMES = {"matplotlib": "matplotlib-base"}
NOT_IN_JOBS = {"snakemake", "snakemake-executor-plugin-slurm", "jsonschema", "psutil"}  # the driver's, not the jobs'


def _env_requirements(path) -> dict[str, str]:
    """name -> version spec of a conda env file (conda and pip sections), spaces removed."""
    doc = yaml.safe_load(path.read_text())
    out = {}
    for dep in doc["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            item = item.replace(" ", "")
            name = _name(item)
            if name not in ("python", "pip", "pytorch-cuda", "cuda-version"):
                out[name] = item[len(name) :]
    return out


@pytest.mark.parametrize("env_file", ["envs/lvlm.yaml", "envs/lvlm-gpu.yaml"])
def test_env_files_match_pyproject(env_file):
    """Every dependency of pyproject that a job imports is in the env, with the same version bounds (conda and
    pip specs alike). Checked to fail without the pins: before pyarrow was added to the envs this listed it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = _env_requirements(ROOT / env_file)
    for requirement in pyproject:
        name = _name(requirement)
        if name in NOT_IN_JOBS:
            continue
        spec = requirement.replace(" ", "")[len(name) :]
        conda = CONDA_NAMES.get(name, name)
        key = conda if conda in env else ("pytorch" if name == "torch" and "pytorch" in env else name)
        assert key in env, f"{env_file} lacks {name} (pyproject: {requirement})"
        assert env[key] == spec, f"{env_file}: {key}{env[key]} but pyproject has {requirement}"
