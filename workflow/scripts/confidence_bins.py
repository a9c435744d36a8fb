"""Gain of each method over naive by naive confidence bin, over all splits of a benchmark (rule confidence_bins)."""

import pandas as pd

from lvlm_debias.analysis.calibration import method_bins
from lvlm_debias.plots.bins import confidence_bins_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    params, wc = snakemake.params, snakemake.wildcards
    scores = {split: pd.read_csv(path) for split, path in zip(params.splits, snakemake.input, strict=True)}
    table = method_bins(scores, params.methods, wc.benchmark, params.edges, params.min_count)
    write_csv(table, snakemake.output.table)
    save_figure(
        confidence_bins_figure(table, f"{wc.model}: {wc.benchmark}"), snakemake.output.png, snakemake.output.pdf
    )
    log.info("\n%s", table.to_string(index=False))
