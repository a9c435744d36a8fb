"""The workflow benchmark: one whole Snakemake run from nothing (wall time, peak memory of the process tree, time
per rule), then reruns of the scoring with other shard counts, whose tables must be identical."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from lvlm_debias.performance.measure import RunMeasure, run_measured
from lvlm_debias.performance.targets import Target, differing_files, targets_frame
from lvlm_debias.report.provenance import job_times, rule_times

log = logging.getLogger(__name__)

#: the embedded run's targets on 2 CPU cores (after install)
WALL_TARGET_S = 600.0
RSS_TARGET_MB = 3072.0


def snapshot_tables(results: str | Path, dest: str | Path) -> int:
    """Copy every CSV table under ``results`` to ``dest`` (same relative paths), except per-shard parts, whose
    files depend on the shard count by design; returns how many were copied."""
    results, dest = Path(results), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    count = 0
    for path in sorted(results.rglob("*.csv")):
        rel = path.relative_to(results)
        if "shards" in rel.parts:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / rel)
        count += 1
    return count


def snakemake_command(snakefile: str | Path, workdir: str | Path, configfile: str | Path, cores: int) -> list[str]:
    """The ``snakemake`` call of this interpreter's environment that runs ``snakefile`` with its outputs in
    ``workdir``."""
    return [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(Path(snakefile).resolve()),
        "--directory",
        str(Path(workdir).resolve()),
        "--configfile",
        str(Path(configfile).resolve()),
        "--cores",
        str(cores),
    ]


def _run(command: Sequence[str], workdir: Path, name: str) -> RunMeasure:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log_file = workdir / f"{name}.log"
    log.info("running %s (log: %s)", name, log_file)
    measure = run_measured(command, env=env, log=log_file)
    if measure.returncode:
        raise RuntimeError(f"snakemake run {name!r} failed with status {measure.returncode}; see {log_file}")
    log.info("%s: %.0f s, peak RSS %.0f MB", name, measure.seconds, measure.peak_rss_mb)
    return measure


def workflow_benchmark(
    snakefile: str | Path,
    configfile: str | Path,
    workdir: str | Path,
    *,
    cores: int = 2,
    shard_counts: Sequence[int] = (1, 4),
) -> dict[str, pd.DataFrame]:
    """Tables ``runs``, ``rules``, ``jobs``, ``shards`` and ``targets``.

    ``workdir`` is emptied first, so the first run starts from nothing (world, model training and all). Each later
    run changes only ``scoring.shards``: Snakemake reruns the scoring and everything after it.
    """
    if not shard_counts:
        raise ValueError("shard_counts must name at least one shard count")
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    config: Mapping = yaml.safe_load(Path(configfile).read_text())
    first_shards = config.get("scoring", {}).get("shards", 1)
    full = _run(snakemake_command(snakefile, workdir, configfile, cores), workdir, "full_run")
    jobs = job_times(workdir / "benchmarks")
    runs = [{"run": "whole workflow from nothing", "shards": first_shards, **vars(full)}]
    snapshot_tables(workdir / "results", workdir / "tables" / f"shards_{first_shards}")
    for n in shard_counts:
        variant = {**config, "scoring": {**config.get("scoring", {}), "shards": n}}
        path = workdir / f"config_shards_{n}.yaml"
        path.write_text(yaml.safe_dump(variant, sort_keys=False))
        measure = _run(snakemake_command(snakefile, workdir, path, cores), workdir, f"shards_{n}")
        runs.append({"run": "rerun of scoring and what follows", "shards": n, **vars(measure)})
        snapshot_tables(workdir / "results", workdir / "tables" / f"shards_{n}")
    reference = shard_counts[0]
    shards = pd.DataFrame(
        [
            {
                "shards": n,
                "compared_with": reference,
                "tables": sum(1 for _ in (workdir / "tables" / f"shards_{n}").rglob("*.csv")),
                "differing": ";".join(
                    differing_files(workdir / "tables" / f"shards_{reference}", workdir / "tables" / f"shards_{n}")
                ),
            }
            for n in dict.fromkeys([first_shards, *shard_counts])
            if n != reference
        ]
    )
    targets = [
        Target("embedded run from nothing: wall time", full.seconds, "<=", WALL_TARGET_S, "s"),
        Target("embedded run from nothing: peak RSS of the process tree", full.peak_rss_mb, "<=", RSS_TARGET_MB, "MB"),
    ]
    targets += [
        Target(
            f"tables with {row.shards} shards that differ from {row.compared_with} shard(s)",
            float(len(row.differing.split(";")) if row.differing else 0),
            "==",
            0.0,
            "files",
        )
        for row in shards.itertuples()
    ]
    return {
        "runs": pd.DataFrame(runs).rename(columns={"returncode": "status"}),
        "rules": rule_times(jobs),
        "jobs": jobs,
        "shards": shards,
        "targets": targets_frame(targets),
    }
