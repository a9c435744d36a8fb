"""First-token label probabilities of one study model on every evidence level (rule study_scores)."""

import torch

from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.study import score_levels_with_entry
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params, wc = snakemake.params, snakemake.wildcards
    table = score_levels_with_entry(
        snakemake.input.model, params.model, params.levels, top_k=params.top_k, batch_size=params.batch_size,
        seed=params.seed,
    )  # fmt: skip
    write_csv(table.assign(yes_rate=float(wc.yes_rate), seed=int(wc.seed)), snakemake.output[0])
    log.info("%d rows", len(table))
