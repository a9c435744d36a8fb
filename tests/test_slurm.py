"""The SLURM profile on a real slurmctld: a reduced embedded workflow run through ``--profile profiles/slurm`` on a
one-node cluster started here (tests/slurm_cluster.py), against the same run with ``--cores 2``.

What it proves: the profile and the rules' resources are accepted by snakemake-executor-plugin-slurm and by SLURM,
every job runs as its own SLURM job (scoring shards included) with the requested CPUs and memory, the GPU resource
becomes a SLURM GPU request (refused on this GPU-less node, so the embedded model must not ask for one), and the
tables are byte-identical to a local run. What it does not: real GPUs, several nodes, an accounting database."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import slurm_cluster
import yaml
from conftest import ROOT
from test_workflow import _small_config

from lvlm_debias.performance.targets import differing_files

pytestmark = pytest.mark.slow

#: the reduced run: one POPE split scored in 2 shards, calibrated, and swept
TARGETS = ["results/shapes-llava/pope/calibration.csv", "results/shapes-llava/pope/random/sweep.csv"]
#: the jobs it takes (what the local run's dry run lists)
EXPECTED_JOBS = {
    "shapes_world": 1,
    "benchmark_questions": 1,
    "shapes_llava": 1,
    "first_token_shard": 2,
    "reference_probs": 1,
    "label_probs": 1,
    "calibration_table": 1,
    "decoding_sweep": 1,
}
MODEL_RULES = {"shapes_llava", "first_token_shard", "reference_probs", "decoding_sweep"}


def _tiny_config(default_config: dict) -> dict:
    config = _small_config(default_config)
    config["benchmarks"]["pope"]["splits"] = ["random"]
    return config


def _snakemake(cwd: Path, workdir: Path, configfile: Path, *extra: str, timeout: int = 900):
    """``snakemake`` on the checkout's Snakefile, run from ``cwd`` (where the SLURM plugin writes its logs)."""
    command = [sys.executable, "-m", "snakemake", *extra, "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(configfile)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _local_profile(base: Path, partition: str) -> Path:
    """What a user of this cluster adds to profiles/slurm (as a second --profile): its partition, and squeue for
    job states since it has no accounting database; first status check after 2 s instead of 40."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    folder = base / "this_cluster"
    folder.mkdir()
    overlay = {
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 2,
        "default-resources": {**profile["default-resources"], "slurm_partition": f"'{partition}'"},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(overlay))
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_cluster.install()
    if reason:
        pytest.skip(f"no SLURM cluster: {reason} (.ci/run installs slurm-wlm and munge)")
    with slurm_cluster.one_node_cluster(tmp_path_factory.mktemp("slurm_state")) as running:
        yield running


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """(base folder, SLURM run, local run, SLURM run ID) of the reduced config."""
    base = tmp_path_factory.mktemp("slurm_runs")
    configfile = base / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(_tiny_config(yaml.safe_load((ROOT / "config.yaml").read_text()))))
    local = _snakemake(base, base / "local", configfile, *TARGETS, "--cores", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    profile = _local_profile(base, cluster.partition)
    slurm = _snakemake(base, base / "slurm", configfile, *TARGETS, "--profile", str(ROOT / "profiles/slurm"),
                       "--profile", str(profile))  # fmt: skip
    assert slurm.returncode == 0, slurm.stderr[-5000:]
    run_id = next(line.split(":", 1)[1].strip() for line in slurm.stderr.splitlines() if "SLURM run ID" in line)
    return base, slurm, local, run_id


def test_slurm_run_gives_the_local_tables(runs):
    """Checked to fail: with one probability changed in a copy of the SLURM run's label_probs.csv, the comparison
    lists that file."""
    base, _, _, _ = runs
    patterns = ("*.csv", "*.npz")
    tables = [p for pattern in patterns for p in (base / "local/results").rglob(pattern)]
    assert len(tables) >= 8
    assert differing_files(base / "local/results", base / "slurm/results", patterns) == []


def test_every_job_ran_as_a_slurm_job_with_its_resources(runs):
    """Checked to fail: a run that submitted nothing has no jobs under its name (an empty state set), and a
    reference_probs job run with `--set-resources reference_probs:mem_mb=3000 --set-threads reference_probs=1` was
    given 1 CPU and 3000M by SLURM, not the 2 and 4000M asserted here."""
    _, slurm, _, run_id = runs
    jobs = slurm_cluster.jobs_of(run_id)
    assert {job["JobState"] for job in jobs} == {"COMPLETED"}
    rules = [next(r for r in EXPECTED_JOBS if job["Comment"].startswith(f"rule_{r}")) for job in jobs]
    assert {rule: rules.count(rule) for rule in set(rules)} == EXPECTED_JOBS
    for rule, job in zip(rules, jobs, strict=True):
        model = rule in MODEL_RULES
        assert job["NumCPUs"] == ("2" if model else "1"), (rule, job["NumCPUs"])
        assert job["MinMemoryNode"] == ("4000M" if model else "2000M"), (rule, job["MinMemoryNode"])
        assert "gpu" not in job.get("TresPerJob", "(null)"), rule  # the embedded model asks for no GPU


def test_a_gpu_job_is_a_slurm_gpu_request(runs):
    """The rule's gpu resource reaches sbatch: with gpu=1 (what a hub checkpoint gets) the shard is submitted with
    --gpus=1, which this GPU-less node refuses. Checked to fail: with gpu=1 replaced by a resource the plugin ignores
    (`--set-resources first_token_shard:gpus_wanted=1`), the job is submitted and the run succeeds."""
    base, _, _, _ = runs
    copy = base / "gpu"
    shutil.copytree(base / "slurm", copy, ignore=shutil.ignore_patterns(".snakemake"))
    shard = "results/shapes-llava/pope/shards/0.csv"
    run = _snakemake(base, copy, base / "tiny.yaml", shard, "--forcerun", "first_token_shard", "--profile",
                     str(ROOT / "profiles/slurm"), "--profile", str(base / "this_cluster"), "--retries", "0",
                     "--set-resources", "first_token_shard:gpu=1", timeout=300)  # fmt: skip
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "--gpus=1" in output and "SLURM sbatch failed" in output, output[-3000:]
