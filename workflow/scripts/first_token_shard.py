"""The image probes (naive, noise) of one shard of a benchmark source's distinct (image, question) pairs, with the
stored first-position distributions and, where the official reading or the contrast grid asks for it, the logit
cache (rule first_token_shard)."""

import torch

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.questions import load_splits
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.cache import score_shard_with_entry
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    spec = benchmark(wc.benchmark)
    splits, _ = load_splits(
        snakemake.input.questions, params.splits, params.image_root, list(spec.labels), skip_bad=params.skip_bad
    )
    store = FirstTokenSpec(params.store_top, tuple(params.temperatures))
    logits_path = snakemake.output.get("logits")
    scores, first_token, passes, stored = score_shard_with_entry(
        params.model_dir,
        params.model,
        splits,
        params.image_root,
        shard=int(wc.shard),
        shards=params.shards,
        labels=spec.labels,
        probes=params.probes,
        top_k=params.top_k,
        batch_size=params.batch_size,
        seed=params.seed,
        store=store,
        logits=logits_path is not None,
    )
    write_csv(scores, snakemake.output.scores)
    first_token.save(snakemake.output.first_token)
    if logits_path is not None:
        stored.save(logits_path)
    log.info("forward passes per probe (prefix passes; 'rows': question suffixes): %s", passes)
