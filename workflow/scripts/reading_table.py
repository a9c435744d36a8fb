"""A benchmark's headline metrics per split and calibration method under our reading and the official code's
(rule reading_table)."""

import pandas as pd

from lvlm_debias.analysis.readings import reading_table
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.store import LogitStore
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    name, params = snakemake.wildcards.benchmark, snakemake.params
    scores = {s: pd.read_csv(p) for s, p in zip(params.splits, snakemake.input.label_probs, strict=True)}
    stores = {s: LogitStore.load(p) for s, p in zip(params.splits, snakemake.input.logits, strict=True)}
    table = reading_table(scores, stores, params.methods, name, params.official)
    write_csv(table, snakemake.output[0])
    log.info("\n%s", table.to_string(index=False))
