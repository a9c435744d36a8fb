"""Prior probing: top answers about absent objects under every probe (rule prior_probing)."""

import torch

from lvlm_debias.plots.figures import save_figure
from lvlm_debias.plots.prior import prior_probing_figure
from lvlm_debias.runlog import log_to
from lvlm_debias.scoring.prior import prior_probing_with_entry
from lvlm_debias.tables import write_csv

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    params = snakemake.params
    table = prior_probing_with_entry(
        params.model_dir,
        params.model,
        params.settings["questions"],
        snakemake.input.annotations,
        params.probes,
        params.settings["top"],
        params.seed,
    )
    write_csv(table, snakemake.output.table)
    save_figure(prior_probing_figure(table), snakemake.output.png, snakemake.output.pdf)
    log.info("\n%s", table[table["rank"] <= 3].to_string(index=False))
