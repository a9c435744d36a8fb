"""Train the embedded ShapesWorld LLaVA and write its checkpoint folder (rule shapes_llava)."""

from lvlm_debias.models.embedded import build_embedded_model
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    build_embedded_model(
        snakemake.input.annotations,
        snakemake.output[0],
        snakemake.params.world,
        snakemake.params.model,
        snakemake.params.seed,
        threads=snakemake.threads,
    )
