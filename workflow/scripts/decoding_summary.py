"""Default vs best decoding configuration per benchmark, and the sweep figure (rule decoding_summary)."""

import pandas as pd

from lvlm_debias.analysis.sweep import sweep_configs, sweep_summary
from lvlm_debias.plots.decoding import decoding_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    sweeps = {key: pd.read_csv(path) for key, path in zip(params.splits, snakemake.input, strict=True)}
    default, _ = sweep_configs(params.settings)
    table = sweep_summary(sweeps, default)
    write_csv(table, snakemake.output.table)
    save_figure(decoding_figure(sweeps, snakemake.wildcards.model), snakemake.output.png, snakemake.output.pdf)
    log.info("\n%s", table.to_string(index=False))
