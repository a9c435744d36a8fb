"""Stage 0 of the study's model entry for one seed: the vision tower every yes_rate of that seed loads (rule
study_tower)."""

import torch

from lvlm_debias.embedded.build import build_vision_tower
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    seconds = build_vision_tower(
        snakemake.input.annotations,
        snakemake.output[0],
        snakemake.params.world,
        snakemake.params.model,
        int(snakemake.wildcards.seed),
        threads=snakemake.threads,
    )
    log.info("stage seconds: %s", seconds)
