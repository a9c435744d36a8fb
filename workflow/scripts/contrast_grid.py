"""First-token VDD over the alpha x beta grid, from the logit cache of every split (rule contrast_grid)."""

import pandas as pd

from lvlm_debias.analysis.contrast_grid import contrast_grid_table
from lvlm_debias.benchmarks import benchmark
from lvlm_debias.plots.contrast_grid import contrast_grid_figure
from lvlm_debias.plots.figures import save_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.store import LogitStore
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    name, params = snakemake.wildcards.benchmark, snakemake.params
    grid = params.grid
    answers = {}
    for split, path in zip(params.splits, snakemake.input.label_probs, strict=True):
        naive = pd.read_csv(path).query("probe == 'naive'").set_index("question_id")
        answers[split] = naive[["label", "subset", "image", "pair"]]
    stores = {s: LogitStore.load(p) for s, p in zip(params.splits, snakemake.input.logits, strict=True)}
    table = contrast_grid_table(
        stores, answers, name, grid["methods"], grid["alphas"], grid["betas"], grid["temperature"]
    )
    write_csv(table, snakemake.output.table)
    headline = benchmark(name).headline
    save_figure(contrast_grid_figure(table, headline, name), snakemake.output.png, snakemake.output.pdf)
    log.info("%d settings x %d splits", len(table) // max(len(params.splits), 1), len(params.splits))
