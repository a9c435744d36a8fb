"""A benchmark's metrics per split for naive and each calibration reference, and accuracy per subset
(rule calibration_table)."""

import pandas as pd

from lvlm_debias.analysis.calibration import calibration_table, subset_table
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    name, params = snakemake.wildcards.benchmark, snakemake.params
    scores = {split: pd.read_csv(path) for split, path in zip(params.splits, snakemake.input, strict=True)}
    table = calibration_table(scores, params.methods, name)
    write_csv(table, snakemake.output.table)
    write_csv(subset_table(scores, params.methods, name), snakemake.output.subsets)
    log.info("\n%s", table.to_string(index=False))
