"""Provenance of a run: code version, config hash, package versions, hardware, seed, and wall time per job."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

#: the packages whose versions decide the numbers
PACKAGES = ("torch", "transformers", "tokenizers", "numpy", "pandas", "snakemake", "huggingface_hub")


def git_state(root: str | Path) -> dict[str, str]:
    """``commit`` (full hash) and ``dirty`` ("yes" when tracked files differ from it) of the checkout at ``root``;
    "unknown" for both outside a git checkout or without git."""

    def run(*args: str) -> str:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        dirty = "yes" if run("status", "--porcelain", "--untracked-files=no") else "no"
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": "unknown"}
    return {"commit": commit, "dirty": dirty}


def plain(value: object) -> object:
    """``value`` with every mapping made a ``dict`` and every list or tuple a ``list``, recursively: Snakemake reads
    a JSON configfile into OrderedDicts, which ``yaml.safe_dump`` refuses."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def config_yaml(config: Mapping, sort_keys: bool = False) -> str:
    """The config as YAML."""
    return yaml.safe_dump(plain(config), sort_keys=sort_keys)


def config_hash(config: Mapping) -> str:
    """sha256 of the config as canonical YAML (keys sorted), so the same settings give the same hash."""
    return hashlib.sha256(config_yaml(config, sort_keys=True).encode()).hexdigest()


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" when absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict[str, str]:
    """Machine, CPU count and accelerator of the process that renders the report."""
    facts = {"platform": platform.platform(), "python": platform.python_version(), "cpus": str(os.cpu_count())}
    try:
        import torch

        facts["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)"
    except ImportError:  # pragma: no cover - torch is a dependency
        facts["accelerator"] = "unknown"
    return facts


def job_times(benchmarks: str | Path) -> pd.DataFrame:
    """Wall time, peak memory and CPU time of every job from Snakemake's ``benchmark:`` files under ``benchmarks``:
    columns ``job`` (the file's path without ``.tsv``), ``seconds``, ``max_rss_mb``, ``cpu_seconds``."""
    root = Path(benchmarks)
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty or "s" not in table.columns:
            raise ValueError(f"{path} is not a Snakemake benchmark file (no 's' column)")
        last = table.iloc[-1]
        rows.append(
            {
                "job": str(path.relative_to(root).with_suffix("")),
                "seconds": float(last["s"]),
                "max_rss_mb": float(last.get("max_rss", float("nan"))),
                "cpu_seconds": float(last.get("cpu_time", float("nan"))),
            }
        )
    return pd.DataFrame(rows, columns=["job", "seconds", "max_rss_mb", "cpu_seconds"])


def rule_times(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule (the first folder of each job's benchmark path, ``benchmarks/<rule>/...``): jobs, total and
    longest wall seconds, largest peak memory; the rules that took longest first."""
    rule = jobs["job"].str.split("/").str[0]
    table = jobs.assign(rule=rule).groupby("rule", sort=False)
    out = pd.DataFrame(
        {
            "jobs": table.size(),
            "total_seconds": table["seconds"].sum(),
            "longest_seconds": table["seconds"].max(),
            "max_rss_mb": table["max_rss_mb"].max(),
        }
    ).reset_index()
    return out.sort_values("total_seconds", ascending=False, kind="stable").reset_index(drop=True)


def skipped_records(outputs: Mapping[str, Mapping[str, str | Path]]) -> str:
    """ "0", or per model and benchmark split the number of question records left out by
    ``scoring.skip_bad_records``, from the ``label_probs.meta.json`` files among ``outputs`` (model -> key -> path)."""
    from lvlm_debias.data.questions import read_skipped

    parts = []
    for model, paths in outputs.items():
        for key, path in paths.items():
            if key.endswith("/label_probs_meta"):
                count = read_skipped(path)
                if count:
                    parts.append(f"{model} {key.removesuffix('/label_probs_meta')}: {count}")
    return "; ".join(parts) if parts else "0"


def sources(config: Mapping) -> dict[str, str]:
    """Where each model and dataset came from: trained or generated here (with the seed), or a hub repo / local
    folder at a revision."""
    facts = {}
    for name, entry in config.get("models", {}).items():
        source = entry.get("source", "")
        if source == "train":
            facts[f"model {name}"] = f"trained here (data/models/{name}, seed {config.get('seed')})"
        else:
            facts[f"model {name}"] = f"{source} at revision {entry.get('revision') or 'unpinned (main)'}"
    datasets = sorted({b.get("dataset", "") for b in config.get("benchmarks", {}).values()})
    for dataset in datasets:
        if dataset == "shapes_world":
            facts[f"dataset {dataset}"] = f"generated here (data/shapes_world, seed {config.get('seed')})"
        else:
            facts[f"dataset {dataset}"] = f"data/{dataset}"
    return facts


def provenance(root: str | Path, config: Mapping) -> dict[str, str]:
    """The run's facts as label -> value: code version, config hash, seed, packages, hardware."""
    git = git_state(root)
    facts = {
        "git commit": git["commit"],
        "uncommitted changes": git["dirty"],
        "config sha256": config_hash(config),
        "seed": str(config.get("seed", "unset")),
    }
    facts.update(sources(config))
    facts.update({f"{name} version": version for name, version in package_versions().items()})
    facts.update(hardware())
    return facts
