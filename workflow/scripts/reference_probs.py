"""Probes that depend on the prompt text alone (none, unk, zero, one), once per distinct prompt of a benchmark
source, for each of its distinct (image, question) pairs (rule reference_probs)."""

import torch

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.questions import load_splits
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.cache import references_with_entry
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    labels = benchmark(wc.benchmark).labels
    splits, _ = load_splits(
        snakemake.input.questions, params.splits, params.image_root, list(labels), skip_bad=params.skip_bad
    )
    scores, passes = references_with_entry(
        params.model_dir,
        params.model,
        splits,
        params.image_root,
        labels=labels,
        probes=params.probes,
        top_k=params.top_k,
        batch_size=params.batch_size,
        seed=params.seed,
    )
    write_csv(scores, snakemake.output[0])
    log.info("forward passes per probe: %s", passes)
