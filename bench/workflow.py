"""Workflow benchmark: the whole embedded run from nothing in a scratch folder (wall time, peak memory of the whole
process tree, time per rule from Snakemake's benchmark files), then reruns with other shard counts whose tables must
be identical. Prints the tables and targets and writes them to <out>/workflow_*.csv."""

import argparse
import logging
from pathlib import Path

from lvlm_debias.performance.workflow_bench import workflow_benchmark
from lvlm_debias.tables import write_csv

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config.yaml")
parser.add_argument("--cores", type=int, default=2)
parser.add_argument("--shards", type=int, nargs="+", default=[1, 4], help="shard counts to rerun and compare")
parser.add_argument("--workdir", default="results/bench/workflow_run", help="scratch folder, emptied first")
parser.add_argument("--out", default="results/bench")
args = parser.parse_args()

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
snakefile = Path(__file__).resolve().parents[1] / "Snakefile"
tables = workflow_benchmark(snakefile, args.config, args.workdir, cores=args.cores, shard_counts=args.shards)
for key, table in tables.items():
    write_csv(table, Path(args.out) / f"workflow_{key}.csv")
    if key != "jobs":
        print(f"\n== {key} ({args.cores} cores)")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
