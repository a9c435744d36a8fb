"""Metrics of the classification benchmarks answered by generation with each decoding method, and their figure
(rule contrastive_classification)."""

import pandas as pd

from lvlm_debias.analysis.generation import contrastive_table
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.plots.generation import contrastive_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    answers = {}
    for key, path in zip(snakemake.params.splits, snakemake.input, strict=True):
        answers.setdefault(key, []).append(pd.read_csv(path))
    table = contrastive_table({key: pd.concat(parts, ignore_index=True) for key, parts in answers.items()})
    write_csv(table, snakemake.output.table)
    save_figure(contrastive_figure(table, snakemake.wildcards.model), snakemake.output.png, snakemake.output.pdf)
    log.info("\n%s", table.to_string(index=False))
