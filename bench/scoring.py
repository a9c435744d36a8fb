"""Scoring benchmark: the official way (per-sample generate, references per sample) against the workflow's scoring
and a decoding sweep from stored distributions, on one benchmark split. Prints the tables and the targets and writes
them to <out>/scoring_*.csv. Needs the embedded model and data: `make bench` builds them first."""

import argparse
import logging
from pathlib import Path

import torch
import yaml
from snakemake.utils import validate

from lvlm_debias.config import model_dir
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.models.load import load_entry
from lvlm_debias.performance.scoring_bench import scoring_benchmark
from lvlm_debias.tables import write_csv

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config.yaml", help="workflow config (model entry, scoring and sweep)")
parser.add_argument("--model", default=None, help="model name in the config (default: the first)")
parser.add_argument("--benchmark", default="pope")
parser.add_argument("--split", default="random")
parser.add_argument("--questions", type=int, default=None, help="first N questions of the split (default: all)")
parser.add_argument("--generate-runs", type=int, default=2, help="sampling configurations timed with generate")
parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
parser.add_argument("--out", default="results/bench")
args = parser.parse_args()

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
torch.set_num_threads(args.threads)
config = yaml.safe_load(Path(args.config).read_text())
validate(config, str(Path(__file__).resolve().parents[1] / "config/schema.yaml"))  # fills in the defaults
name = args.model or next(iter(config["models"]))
entry = config["models"][name]
dataset = config["benchmarks"][args.benchmark]["dataset"]
questions_file = Path(f"data/{dataset}/{args.benchmark}/{args.split}.jsonl")
if not questions_file.exists():
    raise SystemExit(f"{questions_file} is missing: run `make bench` (it builds the data and model first)")
questions = read_jsonl(questions_file)[: args.questions]
source = model_dir(config, name)
tables = scoring_benchmark(
    load_entry(source, entry, attn_implementation="eager"),
    load_entry(source, entry),
    questions,
    f"data/{dataset}",
    name=args.benchmark,
    template=entry["prompt"],
    scoring=config["scoring"],
    sweep=config["sweep"],
    parser=config["benchmarks"][args.benchmark].get("parser"),
    seed=config["seed"],
    generate_runs=args.generate_runs,
)
for key, table in tables.items():
    write_csv(table, Path(args.out) / f"scoring_{key}.csv")
    print(f"\n== {key} ({args.benchmark}/{args.split}, {len(questions)} questions, {args.threads} threads)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
