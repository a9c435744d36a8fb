"""Image-dependent probes (naive, noise) for one shard of a benchmark split, with the stored first-position
distributions and, with the official reading on, what it needs (rule first_token_shard)."""

import torch

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.questions import load_questions
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.first_token import FirstTokenSpec
from lvlm_debias.scoring.official import OfficialStore, has_official_reading, score_shard_with_entry
from lvlm_debias.scoring.shards import shard_bounds
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    spec = benchmark(wc.benchmark)
    questions, _ = load_questions(
        snakemake.input.questions, params.image_root, list(spec.labels), skip_bad=params.skip_bad
    )
    start, stop = shard_bounds(len(questions), int(wc.shard), params.shards, params.batch_size)
    log.info("shard %s of %d: questions %d to %d of %d", wc.shard, params.shards, start, stop, len(questions))
    store = FirstTokenSpec(params.store_top, tuple(params.temperatures))
    official_path = snakemake.output.get("official")
    official = official_path is not None and has_official_reading(spec.family)
    scores, first_token, passes, stored = score_shard_with_entry(
        params.model_dir,
        params.model,
        questions[start:stop],
        params.image_root,
        labels=spec.labels,
        probes=params.probes,
        top_k=params.top_k,
        batch_size=params.batch_size,
        seed=params.seed,
        store=store,
        official=official,
    )
    write_csv(scores, snakemake.output.scores)
    first_token.save(snakemake.output.first_token)
    if official_path is not None:
        if stored is None:
            log.info("benchmark family %s has no official reading: its official store stays empty", spec.family)
            stored = OfficialStore.empty(params.store_top, params.temperatures)
        stored.save(official_path)
    log.info("forward passes per probe: %s", passes)
