"""Logit-cache benchmark: a benchmark's splits scored each on their own (whole prompts) against the logit cache
(distinct pairs once, one prefix pass per image), the first-token VDD grid's cost, and the cost model's prefill FLOPs
for POPE-COCO on LLaVA-1.5-7B. Prints the tables and targets and writes them to <out>/cache_*.csv. Needs the
embedded model and data: `make bench` builds them first."""

import argparse
import logging
from pathlib import Path

import torch
import yaml
from snakemake.utils import validate

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.config import model_dir
from lvlm_debias.data.questions import load_splits
from lvlm_debias.models.load import load_entry
from lvlm_debias.performance.cache_bench import cache_benchmark
from lvlm_debias.tables import write_csv

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--config", default="config.yaml", help="workflow config (model entry, scoring)")
parser.add_argument("--model", default=None, help="model name in the config (default: the first)")
parser.add_argument("--benchmark", default="pope")
parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
parser.add_argument("--alphas", type=float, nargs="+", default=[0, 0.5, 1, 2, 3])
parser.add_argument("--betas", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.2, 0.5])
parser.add_argument("--out", default="results/bench")
args = parser.parse_args()

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
torch.set_num_threads(args.threads)
config = yaml.safe_load(Path(args.config).read_text())
validate(config, str(Path(__file__).resolve().parents[1] / "config/schema.yaml"))  # fills in the defaults
name = args.model or next(iter(config["models"]))
entry = config["models"][name]
settings = config["benchmarks"][args.benchmark]
split_names = settings.get("splits", list(benchmark(args.benchmark).splits))
root = Path(f"data/{settings['dataset']}")
paths = [root / args.benchmark / f"{split}.jsonl" for split in split_names]
missing = [str(p) for p in paths if not p.exists()]
if missing:
    raise SystemExit(f"{missing} missing: run `make bench` (it builds the data and model first)")
splits, _ = load_splits(paths, split_names, root, list(benchmark(args.benchmark).labels))
model, processor = load_entry(model_dir(config, name), entry)
tables = cache_benchmark(
    model, processor, splits, root, name=args.benchmark, template=entry["prompt"],
    scoring=config["scoring"], alphas=args.alphas, betas=args.betas, seed=config["seed"],
)  # fmt: skip
for key, table in tables.items():
    write_csv(table, Path(args.out) / f"cache_{key}.csv")
    print(f"\n== {key} ({args.benchmark}: {', '.join(split_names)}; {args.threads} threads)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
