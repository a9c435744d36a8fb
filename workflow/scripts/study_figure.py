"""Figure: the calibration gain against the injected prior strength, one line per evidence level (rule
study_figure)."""

import pandas as pd

from lvlm_debias.plots.figures import save_figure
from lvlm_debias.plots.study import gain_vs_prior_figure
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    fig = gain_vs_prior_figure(pd.read_csv(snakemake.input[0]), snakemake.params.levels)
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
