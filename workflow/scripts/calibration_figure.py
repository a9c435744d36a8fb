"""A benchmark's calibration figure from its table (rule calibration_figure)."""

import pandas as pd

from lvlm_debias.benchmarks import benchmark
from lvlm_debias.plots.calibration import calibration_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    name = snakemake.wildcards.benchmark
    fig = calibration_figure(
        pd.read_csv(snakemake.input[0]), benchmark(name).headline, f"{snakemake.wildcards.model}: {name}"
    )
    save_figure(fig, snakemake.output.png, snakemake.output.pdf)
