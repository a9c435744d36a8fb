"""Figure of the POPE calibration table (rule pope_calibration_figure)."""

import pandas as pd

from lvlm_debias.plots.calibration import pope_calibration_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    fig = pope_calibration_figure(pd.read_csv(snakemake.input[0]), title=f"POPE, {snakemake.wildcards.model}")
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
