"""Naive vs text-only accuracy per subset of each benchmark (rule benchmark_bias)."""

import pandas as pd

from lvlm_debias.analysis.calibration import bias_table
from lvlm_debias.plots.bias import benchmark_bias_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    scores = {key: pd.read_csv(path) for key, path in zip(params.splits, snakemake.input, strict=True)}
    table = bias_table(scores, params.text_only)
    write_csv(table, snakemake.output.table)
    save_figure(benchmark_bias_figure(table, snakemake.wildcards.model), snakemake.output.png, snakemake.output.pdf)
    log.info("\n%s", table.to_string(index=False))
