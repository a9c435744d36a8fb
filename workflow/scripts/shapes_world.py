"""Render ShapesWorld: images and annotations (rule shapes_world)."""

from pathlib import Path

from lvlm_debias.config import world_spec
from lvlm_debias.runlog import log_to
from lvlm_debias.world.scenes import write_world

with log_to(snakemake.log[0]):
    world = snakemake.params.world
    write_world(
        Path(snakemake.output.annotations).parent,
        world_spec({"world": world}),
        world["n_train_images"],
        world["n_eval_images"],
        snakemake.params.seed,
    )
