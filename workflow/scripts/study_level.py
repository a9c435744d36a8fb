"""Evaluation images and POPE questions of one evidence level of the study (rule study_level)."""

from pathlib import Path

from lvlm_debias.runlog import log_to
from lvlm_debias.world.evidence import write_level

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    questions = write_level(
        Path(snakemake.output.questions).parent, params.world, params.hard_share, params.n_images, params.seed,
        params.split,
    )  # fmt: skip
    log.info("%d questions, %d about hard objects", len(questions), sum(q["hard"] for q in questions))
