"""Train the embedded ShapesWorld LLaVA and write its checkpoint folder (rules shapes_llava and study_model; the
latter loads its seed's stage-0 vision tower instead of training one)."""

from lvlm_debias.embedded.build import build_embedded_model
from lvlm_debias.runlog import log_to

with log_to(snakemake.log[0]):
    build_embedded_model(
        snakemake.input.annotations,
        snakemake.output[0],
        snakemake.params.world,
        snakemake.params.model,
        snakemake.params.seed,
        threads=snakemake.threads,
        vision_tower=snakemake.input.get("tower"),
    )
