"""Every question of a benchmark split under every probe, given its (image, question) pair's rows of the source's
logit cache: the shards and the references (rule label_probs)."""

import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.data.questions import load_splits, write_skipped
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.first_token import FirstToken
from lvlm_debias.scoring.gather import split_tables
from lvlm_debias.scoring.store import LogitStore
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    params, split = snakemake.params, snakemake.wildcards.split
    labels = list(benchmark(snakemake.wildcards.benchmark).labels)
    splits, bad = load_splits(
        snakemake.input.questions, params.splits, params.image_root, labels, skip_bad=params.skip_bad
    )
    if bad[split]:
        log.warning("%d bad records of split %s left out (scoring.skip_bad_records)", len(bad[split]), split)
    parts = [pd.read_csv(path) for path in [*snakemake.input.shards, snakemake.input.references]]
    stores = [LogitStore.load(p) for p in snakemake.input.logits]
    table, first_token, logits = split_tables(
        splits, split, parts, [FirstToken.load(p) for p in snakemake.input.first_token], params.probes, stores
    )
    write_csv(table, snakemake.output.table)
    first_token.save(snakemake.output.first_token)
    if snakemake.output.get("logits"):
        logits.save(snakemake.output.logits)
    source = snakemake.input.questions[params.splits.index(split)]
    write_skipped(snakemake.output.meta, source, bad[split])
    log.info("%d rows for %d questions", len(table), len(splits[split]))
