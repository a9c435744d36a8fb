"""POPE metrics per split for naive and each calibration reference (rule pope_calibration)."""

import pandas as pd

from lvlm_debias.analysis.calibration import calibration_table
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    scores = {split: pd.read_csv(path) for split, path in zip(snakemake.params.splits, snakemake.input, strict=True)}
    table = calibration_table(scores, snakemake.params.methods)
    write_csv(table, snakemake.output.table)
    log.info("\n%s", table.to_string(index=False))
